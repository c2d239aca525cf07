"""ORM models; importing this package registers every table on `Base.metadata`."""

from impl.models.base import Base, UTCDateTime
from impl.models.product import Product, ProductStatus
from impl.models.team import Membership, Role, Team
from impl.models.user import RefreshToken, Theme, User, UserPreferences

__all__ = [
    "Base",
    "Membership",
    "Product",
    "ProductStatus",
    "RefreshToken",
    "Role",
    "Team",
    "Theme",
    "UTCDateTime",
    "User",
    "UserPreferences",
]
