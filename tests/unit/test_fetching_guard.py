"""Table tests of the SSRF guard: addresses, URL forms, schemes, DNS answers."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pytest

from worker.errors import BlockedAddressError, FetchError
from worker.fetching.guard import (
    IPAddress,
    check_url,
    is_public_address,
    parse_ip_literal,
    resolve_allowed,
)

BLOCKED = [
    "127.0.0.1",
    "127.255.255.254",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # CGNAT
    "0.0.0.0",
    "0.1.2.3",
    "224.0.0.1",  # multicast
    "239.255.255.250",
    "255.255.255.255",
    "240.0.0.1",
    "192.0.0.8",
    "192.0.2.1",  # documentation
    "198.18.0.1",
    "::1",
    "::",
    "fd00::1",
    "fc00::1",
    "fe80::1",
    "fe80::1%eth0",
    "fec0::1",
    "ff02::1",
    "2001:db8::1",
    "::ffff:127.0.0.1",
    "::ffff:10.1.2.3",
    "::ffff:169.254.169.254",
    "::127.0.0.1",  # IPv4-compatible
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
]
PUBLIC = [
    "93.184.216.34",
    "8.8.8.8",
    "1.1.1.1",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:93.184.216.34",
    "2002:5db8:d822::1",  # 6to4 of 93.184.216.34
    "64:ff9b::5db8:d822",  # NAT64 of 93.184.216.34
]


@pytest.mark.parametrize("address", BLOCKED)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is False


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is True


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("2130706433", "127.0.0.1"),  # decimal
        ("0177.0.0.1", "127.0.0.1"),  # octal
        ("0x7f.0.0.1", "127.0.0.1"),  # hex octet
        ("0x7f000001", "127.0.0.1"),  # hex whole
        ("127.1", "127.0.0.1"),  # short form
        ("017700000001", "127.0.0.1"),  # octal whole
        ("[::1]", "::1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("93.184.216.34", "93.184.216.34"),
        ("example.org", None),
        ("cafe.de", None),
        ("0x7f.example", None),
    ],
)
def test_host_literals_parse_like_the_os_resolver(host: str, expected: str | None) -> None:
    parsed = parse_ip_literal(host)
    assert (str(parsed) if parsed is not None else None) == expected


def fake_dns(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    calls: list[str] = []

    def resolve(host: str, port: int) -> Sequence[IPAddress]:
        calls.append(host)
        return [ipaddress.ip_address(a) for a in table.get(host, [])]

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


DNS = fake_dns(
    {
        "news.example": ["93.184.216.34"],
        "dual.example": ["93.184.216.34", "2606:4700:4700::1111"],
        "sneaky.example": ["93.184.216.34", "10.0.0.5"],
        "localhost": ["127.0.0.1", "::1"],
        "localhost.": ["127.0.0.1"],
        "metadata.example": ["169.254.169.254"],
        "v6private.example": ["fd12:3456::1"],
    }
)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.0.0.1:8080/admin",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[fe80::1%25eth0]/",
        "http://[fd00::1]:8443/",
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://0x7f.0.0.1/",
        "http://0x7f000001/",
        "http://127.1/",
        "http://0.0.0.0/",
        "http://100.64.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "https://user:pw@10.0.0.1/",
        "http://localhost/",
        "http://LOCALHOST./",
        "http://metadata.example/",
        "http://sneaky.example/",  # one private answer among public ones is enough
        "http://v6private.example/",
        "file:///etc/passwd",
        "ftp://example.org/file",
        "gopher://127.0.0.1:6379/_INFO",
        "javascript:alert(1)",
        "//news.example/no-scheme",
        "http:///no-host",
    ],
)
def test_check_url_refuses(url: str) -> None:
    with pytest.raises(BlockedAddressError) as info:
        check_url(url, resolve=DNS)
    assert url in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.216.34/",
        "https://news.example/story?id=1",
        "HTTPS://NEWS.EXAMPLE/",
        "http://dual.example:8080/",
        "http://[2606:4700:4700::1111]/",
    ],
)
def test_check_url_allows_public(url: str) -> None:
    assert check_url(url, resolve=DNS) is None


def test_literal_addresses_are_not_sent_to_dns() -> None:
    resolve = fake_dns({})
    with pytest.raises(BlockedAddressError):
        check_url("http://2130706433/", resolve=resolve)
    assert resolve.calls == []  # type: ignore[attr-defined]


def test_a_name_without_addresses_is_a_fetch_error_not_a_block() -> None:
    with pytest.raises(FetchError) as info:
        resolve_allowed("nowhere.example", 80, resolve=fake_dns({}))
    assert not isinstance(info.value, BlockedAddressError)
    assert "nowhere.example" in str(info.value)


def test_resolve_allowed_returns_every_checked_address() -> None:
    addresses = resolve_allowed("dual.example", 443, resolve=DNS)
    assert [str(a) for a in addresses] == ["93.184.216.34", "2606:4700:4700::1111"]
