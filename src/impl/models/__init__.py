"""ORM models; importing this package registers every table on `Base.metadata`."""

from impl.models.audit import AuditEvent
from impl.models.base import Base, UTCDateTime
from impl.models.inventory import StockLevel, StockMovement, StockReason
from impl.models.job import DeadLetter
from impl.models.order import IdempotencyKey, Order, OrderLine, OrderStatus
from impl.models.outbox import OutboxEvent, OutboxRelay
from impl.models.product import Product, ProductStatus, ProductTag
from impl.models.team import Membership, Role, Team
from impl.models.user import ExternalIdentity, RefreshToken, SignIn, Theme, User, UserPreferences

__all__ = [
    "AuditEvent",
    "Base",
    "DeadLetter",
    "ExternalIdentity",
    "IdempotencyKey",
    "Membership",
    "Order",
    "OrderLine",
    "OrderStatus",
    "OutboxEvent",
    "OutboxRelay",
    "Product",
    "ProductStatus",
    "ProductTag",
    "RefreshToken",
    "Role",
    "SignIn",
    "StockLevel",
    "StockMovement",
    "StockReason",
    "Team",
    "Theme",
    "UTCDateTime",
    "User",
    "UserPreferences",
]
