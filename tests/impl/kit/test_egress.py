"""The egress guard: what it refuses, what it allows, and that it connects where it checked.

Refusals of literal addresses are decided before any socket exists, so these tests send
nothing anywhere but loopback; names are resolved by the system resolver (`localhost`) or by a
resolver the test passes in.
"""

from __future__ import annotations

import asyncio
import datetime
import socket
import ssl
import time
from collections.abc import Iterator, Sequence
from ipaddress import ip_address
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from impl.kit.egress import Answer, EgressGuard, EgressRefused
from impl.settings import Settings
from tests.fakes.feeds import FakeFeeds, serve_feeds

REFUSED = {
    # IPv4
    "loopback": "127.0.0.1",
    "loopback, elsewhere in 127/8": "127.8.9.10",
    "private 10/8": "10.0.0.1",
    "private 172.16/12": "172.16.5.4",
    "private 192.168/16": "192.168.1.1",
    "carrier-grade NAT": "100.64.0.1",
    "link-local": "169.254.10.20",
    "cloud metadata": "169.254.169.254",
    "multicast": "224.0.0.251",
    "reserved 240/4": "240.0.0.1",
    "broadcast": "255.255.255.255",
    "unspecified": "0.0.0.0",  # noqa: S104 (an address refused, not bound)
    "this network 0/8": "0.1.2.3",
    "documentation": "192.0.2.10",
    "benchmarking": "198.18.0.1",
    # IPv6
    "v6 loopback": "::1",
    "v6 unspecified": "::",
    "v6 link-local": "fe80::1",
    "v6 unique-local": "fd12:3456::1",
    "v6 cloud metadata": "fd00:ec2::254",
    "v6 multicast": "ff02::1",
    "v6 documentation": "2001:db8::1",
    "v6 discard-only": "100::1",
    "IPv4-mapped loopback": "::ffff:127.0.0.1",
    "IPv4-mapped private": "::ffff:10.0.0.1",
    "IPv4-mapped metadata": "::ffff:169.254.169.254",
    "IPv4-compatible loopback": "::127.0.0.1",
    "6to4 of loopback": "2002:7f00:1::1",
    "6to4 of metadata": "2002:a9fe:a9fe::1",
    "NAT64 of loopback": "64:ff9b::7f00:1",
    "NAT64 of metadata": "64:ff9b::a9fe:a9fe",
    "local-use NAT64": "64:ff9b:1::a00:1",
    "Teredo": "2001:0:4136:e378:8000:63bf:3fff:fdd2",
}
PUBLIC = {
    "v4": "93.184.215.14",
    "v6": "2606:4700:4700::1111",
    "IPv4-mapped public": "::ffff:8.8.8.8",
    "6to4 of a public address": "2002:808:808::1",
    "NAT64 of a public address": "64:ff9b::808:808",
}


def _literal_url(address: str, port: int = 80) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:{port}/feed.xml"


def answers(*addresses: str) -> list[Answer]:
    rows: list[Answer] = []
    for address in addresses:
        if ":" in address:
            rows.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, 0, 0, 0)))
        else:
            rows.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 0)))
    return rows


class Zone:
    """A resolver answering from a table (the port is the one asked for), counting lookups;
    a name in `rebind` answers its addresses there from the second lookup on."""

    def __init__(
        self,
        records: dict[str, Sequence[str]],
        *,
        delay: float = 0.0,
        rebind: dict[str, Sequence[str]] | None = None,
    ) -> None:
        self.records = records
        self.delay = delay
        self.rebind = rebind or {}
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[Answer]:
        self.lookups.append(host)
        await asyncio.sleep(self.delay)
        if host not in self.records:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        rows = [(*row[:4], (row[4][0], port, *row[4][2:])) for row in answers(*self.records[host])]
        if host in self.rebind:
            self.records[host] = self.rebind[host]
        return rows


@pytest.fixture(scope="module")
def feeds() -> Iterator[FakeFeeds]:
    with serve_feeds() as served:
        yield served


@pytest.mark.parametrize("address", REFUSED.values(), ids=REFUSED.keys())
async def test_refuses_every_inside_address(address: str) -> None:
    with pytest.raises(EgressRefused, match=r"\(RFC\d+"):
        await EgressGuard().check(_literal_url(address))


@pytest.mark.parametrize("address", REFUSED.values(), ids=REFUSED.keys())
async def test_refuses_a_name_that_resolves_inside(address: str) -> None:
    zone = Zone({"feeds.example": [address]})
    with pytest.raises(EgressRefused, match=r"\(RFC\d+"):
        await EgressGuard(resolver=zone).check("https://feeds.example/rss")


@pytest.mark.parametrize("address", PUBLIC.values(), ids=PUBLIC.keys())
async def test_allows_public_addresses(address: str) -> None:
    destination = await EgressGuard().check(_literal_url(address, 8080))
    assert [a.ip for a in destination.addresses] == [ip_address(address)]
    assert destination.port == 8080
    assert not destination.allowed_by_name


async def test_every_answer_must_be_public() -> None:
    zone = Zone({"mixed.example": ["93.184.215.14", "2606:4700::1", "10.1.2.3"]})
    with pytest.raises(EgressRefused, match="both permitted and denied"):
        await EgressGuard(resolver=zone).check("http://mixed.example/")
    zone.records["mixed.example"] = ["93.184.215.14", "2606:4700::1"]
    destination = await EgressGuard(resolver=zone).check("http://mixed.example/")
    assert {str(a.ip) for a in destination.addresses} == {"93.184.215.14", "2606:4700::1"}


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://feeds.example/rss", "scheme 'ftp'"),
        ("file:///etc/passwd", "scheme 'file'"),
        ("gopher://feeds.example/", "scheme 'gopher'"),
        ("http://user:secret@feeds.example/", "credentials"),  # pragma: allowlist secret
        ("http://2130706433/", "encoded"),
        ("http://127.1/", "encoded"),
        ("http://0177.0.0.1/", "not a valid URL"),
        # Not shaped like a number, so a name: the system resolver decodes it, to loopback.
        ("http://0x7f.1/", "Loopback"),
        ("http:///no-host", "host"),
        ("not a url", "control character"),
    ],
)
async def test_refuses_urls_that_are_not_plain_web_addresses(url: str, reason: str) -> None:
    with pytest.raises(EgressRefused, match=reason):
        await EgressGuard().check(url)


async def test_localhost_is_refused_by_the_system_resolver() -> None:
    with pytest.raises(EgressRefused, match="Loopback"):
        await EgressGuard().check("http://localhost:8000/")


async def test_allowed_hosts_are_exempt_by_name_only() -> None:
    by_ip = EgressGuard(allow_hosts=["127.0.0.1", " [::1] "])
    assert (await by_ip.check("http://127.0.0.1:9/")).allowed_by_name
    assert (await by_ip.check("http://[0:0::1]:9/")).allowed_by_name
    for other in ("http://127.0.0.2/", "http://localhost/", "http://10.0.0.1/"):
        with pytest.raises(EgressRefused):
            await by_ip.check(other)
    by_name = EgressGuard(allow_hosts=["LocalHost"])
    assert (await by_name.check("http://localhost:9/")).allowed_by_name
    with pytest.raises(EgressRefused):
        await by_name.check("http://127.0.0.1:9/")
    # Allowing a host does not widen the schemes.
    with pytest.raises(EgressRefused, match="scheme"):
        await by_name.check("ftp://localhost/")


def test_allowed_hosts_come_from_the_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("EGRESS_ALLOW_HOSTS", "127.0.0.1, localhost,,")
    monkeypatch.setenv("EGRESS_DNS_TIMEOUT_SECONDS", "0.5")
    guard = EgressGuard.from_settings(Settings(keys_dir=tmp_path))
    assert guard.allow_hosts == {"127.0.0.1", "localhost"}
    assert guard.dns_timeout_seconds == 0.5
    assert guard.max_redirects == 5


async def test_a_slow_resolver_is_abandoned_at_the_timeout() -> None:
    zone = Zone({"slow.example": ["93.184.215.14"]}, delay=30)
    guard = EgressGuard(resolver=zone, dns_timeout_seconds=0.2)
    started = time.monotonic()
    with pytest.raises(httpx.ConnectTimeout, match=r"resolving slow\.example took longer"):
        await guard.check("http://slow.example/")
    assert time.monotonic() - started < 2


async def test_an_unknown_name_is_a_connect_error() -> None:
    with pytest.raises(httpx.ConnectError, match=r"cannot resolve nowhere\.example"):
        await EgressGuard(resolver=Zone({})).check("http://nowhere.example/")


async def test_the_connection_goes_to_the_checked_address(feeds: FakeFeeds) -> None:
    port = int(feeds.base_url.rsplit(":", 1)[1])
    # The name answers the fake's address once; any later lookup would answer elsewhere
    # (nothing listens on 127.0.0.2), so a second resolution would fail the request.
    zone = Zone({"pinned.example": ["127.0.0.1"]}, rebind={"pinned.example": ["127.0.0.2"]})
    guard = EgressGuard(allow_hosts=["pinned.example"], resolver=zone)
    async with guard.stream("GET", f"http://pinned.example:{port}/echo.xml") as response:
        body = (await response.aread()).decode()
    assert response.status_code == 200
    assert zone.lookups == ["pinned.example"]
    # The URL and its Host header keep the name.
    assert f"<title>pinned.example:{port}</title>" in body


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    certfile.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certfile, keyfile


async def test_tls_is_verified_against_the_name_not_the_pinned_address(tmp_path: Path) -> None:
    certfile, keyfile = _certificate(tmp_path, "feeds.test")
    trusted = ssl.create_default_context(cafile=str(certfile))
    with serve_feeds(certfile=certfile, keyfile=keyfile) as tls:
        port = int(tls.base_url.rsplit(":", 1)[1])
        zone = Zone({"feeds.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
        guard = EgressGuard(allow_hosts=["feeds.test", "other.test"], resolver=zone, verify=trusted)
        async with guard.stream("GET", f"https://feeds.test:{port}/echo.xml") as response:
            body = (await response.aread()).decode()
        assert f"<title>feeds.test:{port}</title>" in body
        # Same address, another name: the certificate does not match it, so no request.
        with pytest.raises(httpx.ConnectError, match="certificate verify failed"):
            async with guard.stream("GET", f"https://other.test:{port}/echo.xml"):
                pass
        assert [seen.headers["host"] for seen in tls.seen("/echo.xml")] == [f"feeds.test:{port}"]


async def test_redirects_are_checked_hop_by_hop(feeds: FakeFeeds) -> None:
    guard = EgressGuard(allow_hosts=["127.0.0.1"])
    hop = feeds.url("/redirect?to=") + feeds.url("/rss.xml")
    async with guard.stream("GET", hop) as response:
        assert response.status_code == 200
        assert str(response.url) == feeds.url("/rss.xml")
        assert [r.status_code for r in response.history] == [302]
    for inside, reason in (
        ("http://10.0.0.1/feed", "Private-Use"),
        ("http://169.254.169.254/latest/meta-data/", "Cloud metadata"),
        ("http://[::ffff:169.254.169.254]/latest/meta-data/", "Cloud metadata"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "Cloud metadata"),
        ("http://localhost:1/feed", "Loopback"),  # loopback under a name that is not allowed
        ("file:///etc/passwd", "scheme 'file'"),
    ):
        first = feeds.url(f"/redirect?to={inside}")
        with pytest.raises(EgressRefused, match=reason) as refused:
            async with guard.stream("GET", first):
                pass
        assert refused.value.url != first  # the first hop passed; the second was refused


async def test_redirects_are_bounded(feeds: FakeFeeds) -> None:
    guard = EgressGuard(allow_hosts=["127.0.0.1"], max_redirects=2)
    loop = feeds.url("/redirect?to=/redirect%3Fto%3D/redirect%253Fto%253D/rss.xml")
    with pytest.raises(EgressRefused, match="more than 2 redirects"):
        async with guard.stream("GET", loop):
            pass
    guard.max_redirects = 3
    async with guard.stream("GET", loop) as response:
        assert response.status_code == 200
        assert len(response.history) == 3


async def test_credentials_are_not_carried_to_another_origin(feeds: FakeFeeds) -> None:
    port = feeds.base_url.rsplit(":", 1)[1]
    guard = EgressGuard(allow_hosts=["127.0.0.1", "localhost"])
    secret = {"Authorization": "Bearer s3cret", "X-Trace": "kept"}
    same = feeds.url("/redirect?to=/echo.xml")
    async with guard.stream("GET", same, headers=secret) as response:
        body = (await response.aread()).decode()
    assert "Bearer s3cret" in body
    away = feeds.url(f"/redirect?to=http://localhost:{port}/echo.xml")
    async with guard.stream("GET", away, headers=secret) as response:
        body = (await response.aread()).decode()
    assert "Bearer s3cret" not in body
    assert "kept" in body


async def test_see_other_turns_a_post_into_a_get(feeds: FakeFeeds) -> None:
    guard = EgressGuard(allow_hosts=["127.0.0.1"])
    url = feeds.url("/redirect?status=303&to=/echo.xml")
    async with guard.stream(
        "POST", url, content=b"{}", headers={"Content-Type": "application/json"}
    ) as response:
        body = (await response.aread()).decode()
    assert response.request.method == "GET"
    assert "application/json" not in body
