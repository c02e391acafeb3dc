"""SSRF guard: which addresses an untrusted URL may reach.

Pure checks over addresses and URLs. DNS goes through an injected resolver so the same code runs
at connect time (see transport.py, which connects to exactly the addresses checked here, so a
second DNS answer cannot rebind the host to an internal address) and in table tests.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from urllib.parse import unquote, urlsplit

from worker.errors import BlockedAddressError, FetchError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[IPAddress]]
AddressPolicy = Callable[[IPAddress], bool]

ALLOWED_SCHEMES = ("http", "https")
_DEFAULT_PORTS = {"http": 80, "https": 443}

# The stdlib's is_global tables differ between Python versions; these ranges are refused
# whatever the interpreter thinks of them.
_ALWAYS_BLOCKED = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches localhost on Linux
        "100.64.0.0/10",  # carrier-grade NAT, often internal in clouds
        "192.0.0.0/24",  # IETF protocol assignments
        "198.18.0.0/15",  # benchmarking
        "240.0.0.0/4",  # reserved, includes 255.255.255.255
        "::/96",  # deprecated IPv4-compatible IPv6
        "64:ff9b:1::/48",  # local-use NAT64
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # deprecated site-local
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

# Shapes that inet_aton accepts: decimal (2130706433), octal (0177.0.0.1), hex (0x7f.1), short
# forms (127.1). Checked before calling it because glibc's inet_aton ignores trailing junk.
_INET_ATON_FORM = re.compile(r"[0-9a-fA-FxX.]+")


def is_public_address(ip: IPAddress) -> bool:
    """True when `ip` is a globally routable unicast address an untrusted URL may reach."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return is_public_address(ip.ipv4_mapped)
        if not all(is_public_address(inner) for inner in _tunnelled_ipv4(ip)):
            return False
    if any(ip.version == net.version and ip in net for net in _ALWAYS_BLOCKED):
        return False
    return ip.is_global and not ip.is_multicast


def _tunnelled_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses carried inside 6to4, Teredo and NAT64 addresses: a tunnel to a private
    address is a private address."""
    inner: list[ipaddress.IPv4Address] = []
    if ip.sixtofour is not None:
        inner.append(ip.sixtofour)
    if ip.teredo is not None:
        inner.extend(ip.teredo)
    if ip in _NAT64:
        inner.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return inner


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address a host name denotes by itself, in any form the OS resolver would accept."""
    bare = unquote(host).strip("[]")
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    if not _INET_ATON_FORM.fullmatch(bare):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(bare))
    except OSError:
        return None


def system_resolver(host: str, port: int) -> list[IPAddress]:
    """Every address the OS resolver gives for `host` (what a plain connect would pick from)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"could not resolve {host}: {exc}") from None
    return [ipaddress.ip_address(str(info[4][0])) for info in infos]


def resolve_allowed(
    host: str, port: int, *, resolve: Resolver, allowed: AddressPolicy = is_public_address
) -> list[IPAddress]:
    """Resolve `host` and return its addresses, refusing if ANY of them is not allowed
    (a name with one public and one private address could be steered to the private one)."""
    literal = parse_ip_literal(host)
    addresses = [literal] if literal is not None else list(resolve(host, port))
    if not addresses:
        raise FetchError(f"could not resolve {host}: no address")
    blocked = [str(ip) for ip in addresses if not allowed(ip)]
    if blocked:
        what = "is" if literal is not None else f"resolves to {', '.join(blocked)}, which is"
        raise BlockedAddressError(
            f"{host} {what} not a public address; "
            "set fetch.allow_private_addresses to reach private networks"
        )
    return addresses


def check_scheme(url: str) -> None:
    """Refuse anything but http and https (file:, ftp:, gopher: … reach things they must not)."""
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:  # `http://[::1` from a feed: refused, not a crash of the item
        raise BlockedAddressError(f"{url}: not a valid URL") from None
    if scheme not in ALLOWED_SCHEMES:
        raise BlockedAddressError(f"{url}: scheme {scheme or '(none)'!r} is not allowed")


def check_url(url: str, resolve: Resolver = system_resolver) -> None:
    """Raise BlockedAddressError unless `url` is http(s) to a host whose addresses are public."""
    check_scheme(url)
    parts = urlsplit(url)
    try:
        port = parts.port or _DEFAULT_PORTS[parts.scheme.lower()]
    except ValueError:
        raise BlockedAddressError(f"{url}: invalid port") from None
    if not parts.hostname:
        raise BlockedAddressError(f"{url}: no host")
    try:
        resolve_allowed(parts.hostname, port, resolve=resolve)
    except BlockedAddressError as exc:
        raise BlockedAddressError(f"{url}: {exc}") from None
