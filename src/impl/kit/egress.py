"""Outbound HTTP to URLs that users name, refused where it could reach inside (SSRF).

A feed URL (and later a webhook URL) is chosen by a user, and the request for it is made from
inside our network. `EgressGuard` lets such a request reach public addresses only:

- only `http` and `https`, no credentials in the URL, no encoded IP literals (`0177.0.0.1`);
- the host is resolved once, asynchronously, within `dns_timeout_seconds`; **every** A and
  AAAA answer must be public, else the URL is refused (a name answering both ways is the
  shape of a rebinding attempt);
- the connection goes to one of the checked addresses and to nothing else: the answers are
  pinned into the connection (no second lookup between check and connect), while the URL,
  the `Host` header and TLS (SNI, certificate verification) keep the host's name;
- redirects are followed here, one hop at a time, each hop checked again from the start, at
  most `max_redirects` of them.

Refused: loopback, private (RFC 1918, unique-local), link-local, multicast, broadcast,
reserved, unspecified, carrier-grade NAT (100.64/10), documentation and benchmarking ranges,
the cloud metadata addresses (169.254.169.254, fd00:ec2::254), and those addresses wrapped in
IPv6 (IPv4-mapped, IPv4-compatible, 6to4, NAT64, Teredo), which are decoded, not trusted.

The address table, its decoding and the pinned connection are ssrfguard's (`Policy`,
`resolve`, `AsyncSafeTransport`): it validates every answer and connects to the address it
validated, at httpcore's connection seam, so TLS stays httpcore's. What is ours: the
resolution with a deadline (ssrfguard's own runs `getaddrinfo` in a thread that cannot be
abandoned), the hosts a deployment allows (`EGRESS_ALLOW_HOSTS`: named hosts that may resolve
anywhere, loopback included; the tests allow the fake servers' host this way), and the
redirect walk, which picks the policy per hop so an allowed first hop cannot lend its
allowance to where it redirects.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from ipaddress import ip_address, ip_network
from typing import TYPE_CHECKING, Any

import httpx
from ssrfguard import Address, BlockedURLError, Policy, SSRFGuardError, resolve
from ssrfguard.httpx import AsyncClient, AsyncSafeTransport

if TYPE_CHECKING:
    from impl.settings import Settings

# One row of `getaddrinfo`'s answer: family, type, protocol, canonical name, socket address.
Answer = tuple[int, int, int, str, tuple[Any, ...]]
# How a host is resolved: (host, port) -> `getaddrinfo` rows. The default is the event loop's
# `getaddrinfo` (the system resolver: /etc/hosts, DNS); tests may pass another.
Resolver = Callable[[str, int], Awaitable[Sequence[Answer]]]

_ALL_PORTS = frozenset(range(1, 65536))
# Hosts named in EGRESS_ALLOW_HOSTS may resolve anywhere. `::/0` contains the translation
# prefixes (which ssrfguard refuses to allow on their own); at this breadth that is the intent.
_EVERYWHERE = (ip_network("0.0.0.0/0"), ip_network("::/0"))
_STRICT = Policy(allowed_ports=_ALL_PORTS)
_ALLOWED = Policy(allowed_ports=_ALL_PORTS, allowed_networks=_EVERYWHERE)
# Request headers that carry credentials: dropped when a redirect leaves the origin.
_CREDENTIALS = ("authorization", "proxy-authorization", "cookie")


class EgressRefused(Exception):
    """The guard refused a URL (or a hop it redirected to): nothing was sent there."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


@dataclass(frozen=True)
class Destination:
    """A URL that passed the guard, with the addresses its connection may use."""

    url: str
    host: str
    port: int
    addresses: tuple[Address, ...]
    allowed_by_name: bool

    def answers(self) -> list[Answer]:
        return [
            (address.family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", address.sockaddr)
            for address in self.addresses
        ]


def normalise_host(host: str) -> str:
    """A host as URLs and the allow list are compared: lower case, no brackets, IPs canonical."""
    host = host.strip().lower().removeprefix("[").removesuffix("]")
    try:
        return str(ip_address(host))
    except ValueError:
        return host.rstrip(".")


@functools.cache
def _default_tls() -> ssl.SSLContext:
    # httpx's (certifi's roots, hostname checks); one context, shared: building one costs ~20 ms.
    return httpx.create_ssl_context()


async def system_resolver(host: str, port: int) -> Sequence[Answer]:
    """The event loop's `getaddrinfo` (a worker thread the loop may abandon on a timeout)."""
    return await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)


class _Pinned:
    """The resolver handed to the connection: the checked answers, for the checked origin only."""

    def __init__(self, destination: Destination) -> None:
        self._destination = destination

    def __call__(self, host: str, port: int, *_: object, **__: object) -> list[Answer]:
        if normalise_host(host) != self._destination.host or port != self._destination.port:
            raise socket.gaierror(socket.EAI_NONAME, f"{host}:{port} was not checked")
        return self._destination.answers()


class EgressGuard:
    """Checks outbound URLs and makes requests to them that cannot be steered inside."""

    def __init__(
        self,
        *,
        allow_hosts: Iterable[str] = (),
        dns_timeout_seconds: float = 2.0,
        max_redirects: int = 5,
        resolver: Resolver | None = None,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        self.allow_hosts = frozenset(normalise_host(h) for h in allow_hosts if h.strip())
        self.dns_timeout_seconds = dns_timeout_seconds
        self.max_redirects = max_redirects
        self._resolver = resolver or system_resolver
        self._verify = verify or _default_tls()

    @classmethod
    def from_settings(cls, settings: Settings) -> EgressGuard:
        return cls(
            allow_hosts=settings.egress_allow_hosts,
            dns_timeout_seconds=settings.egress_dns_timeout_seconds,
            max_redirects=settings.egress_max_redirects,
        )

    async def check(self, url: str) -> Destination:
        """The destination of `url`, resolved and checked; `EgressRefused` if it may not be used.

        A host that does not resolve raises `httpx.ConnectError`, one that takes longer than
        `dns_timeout_seconds` `httpx.ConnectTimeout`, as httpx itself would.
        """
        try:
            host = normalise_host(httpx.URL(url).host)
        except httpx.InvalidURL as error:
            raise EgressRefused(url, f"not a valid URL ({error})") from None
        allowed = host in self.allow_hosts
        policy = _ALLOWED if allowed else _STRICT
        try:
            target = policy.check_url(url)
            # The host the guard judged must be the one httpx connects to (no parser gap).
            if normalise_host(target.host) != host:
                raise EgressRefused(url, "the URL's host is ambiguous")
            if target.is_literal_address:
                addresses = resolve(target, policy=policy)  # no lookup: a numeric host
            else:
                answers = await self._lookup(target.host, target.port)
                addresses = resolve(target, policy=policy, resolver=lambda *_: answers)
        except SSRFGuardError as refused:
            raise EgressRefused(url, _reason(refused)) from None
        return Destination(url, host, target.port, addresses, allowed)

    async def _lookup(self, host: str, port: int) -> Sequence[Answer]:
        try:
            async with asyncio.timeout(self.dns_timeout_seconds):
                return await self._resolver(host, port)
        except TimeoutError:
            raise httpx.ConnectTimeout(
                f"resolving {host} took longer than {self.dns_timeout_seconds:g} s"
            ) from None
        except OSError as error:  # socket.gaierror
            raise httpx.ConnectError(f"cannot resolve {host}: {error}") from None

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        http_timeout: httpx.Timeout | float = 10.0,
    ) -> AsyncIterator[httpx.Response]:
        """Send a request through the guard; the final response, its body not yet read.

        Redirects are followed here (each hop checked anew, at most `max_redirects`); the
        hops walked are in `response.history`. `http_timeout` is httpx's, per phase: bound the
        whole exchange with `asyncio.timeout` around this.
        """
        history: list[httpx.Response] = []
        request_headers = httpx.Headers(headers)
        while True:
            destination = await self.check(url)
            async with self._client(destination, http_timeout) as client:
                request = client.build_request(
                    method, url, headers=request_headers, content=content
                )
                try:
                    response = await client.send(request, stream=True)
                except SSRFGuardError as refused:  # the transport's own check, as a backstop
                    raise EgressRefused(url, _reason(refused)) from None
                try:
                    if not response.has_redirect_location:
                        response.history = history
                        yield response
                        return
                finally:
                    await response.aclose()
            history.append(response)
            if len(history) > self.max_redirects:
                raise EgressRefused(url, f"more than {self.max_redirects} redirects")
            method, content, url, request_headers = _next_hop(
                response, method, content, request_headers
            )

    def _client(self, destination: Destination, timeout: httpx.Timeout | float) -> AsyncClient:
        transport = AsyncSafeTransport(
            policy=_ALLOWED if destination.allowed_by_name else _STRICT,
            resolver=_Pinned(destination),
            verify=self._verify,
            trust_env=False,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=0),
        )
        return AsyncClient(
            transport=transport, trust_env=False, follow_redirects=False, timeout=timeout
        )


def _reason(refused: SSRFGuardError) -> str:
    # A refused URL's message repeats the URL; EgressRefused names it once.
    return refused.reason if isinstance(refused, BlockedURLError) else str(refused)


def _next_hop(
    response: httpx.Response, method: str, content: bytes | None, headers: httpx.Headers
) -> tuple[str, bytes | None, str, httpx.Headers]:
    """Where a redirect sends the request next, as browsers and httpx rewrite it."""
    try:
        target = response.url.join(response.headers["location"])
    except httpx.InvalidURL as error:
        raise EgressRefused(str(response.url), f"redirects to an invalid URL ({error})") from None
    headers = httpx.Headers(headers)
    status = response.status_code
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method, content = "GET", None
        for name in ("content-length", "content-type", "transfer-encoding"):
            headers.pop(name, None)
    if (target.scheme, target.host, target.port) != (
        response.url.scheme,
        response.url.host,
        response.url.port,
    ):
        for name in _CREDENTIALS:
            headers.pop(name, None)
    return method, content, str(target), headers
