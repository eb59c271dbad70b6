"""webmail.protocols.netguard: every spelling of a non-public address is refused.

`socket.getaddrinfo` is replaced by a table for names, and numeric spellings go to the
real resolver with AI_NUMERICHOST, which parses them locally (it cannot send a query).
"""

import socket

import pytest

from webmail.protocols.netguard import BlockedAddress, resolve_public

PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"

NAMES = {
    "mail.example.com": [PUBLIC_V4, PUBLIC_V6],
    "localhost": ["127.0.0.1", "::1"],
    "localhost.": ["127.0.0.1"],
    "rebind.example.com": [PUBLIC_V4, "10.0.0.5"],
    "metadata.example.com": ["169.254.169.254"],
    "mapped.example.com": ["::ffff:192.168.1.1"],
    "nip.example.com": ["127.0.0.1"],  # the nip.io / sslip.io trick
    "office.example.com": ["192.168.10.20"],
}


def fake_getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
    if host in NAMES:
        return [_info(address, port) for address in NAMES[host]]
    try:
        return _real_getaddrinfo(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
    except socket.gaierror:
        raise socket.gaierror(socket.EAI_NONAME, f"test resolver: unknown name {host}") from None


def _info(address, port):
    if ":" in address:
        return (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))


_real_getaddrinfo = socket.getaddrinfo


@pytest.fixture(autouse=True)
def resolver(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.1",
        "0x7f.1",
        "0177.0.0.1",
        "2130706433",
        "::1",
        "[::1]",
        "::ffff:127.0.0.1",
        "::ffff:7f00:1",
        "::127.0.0.1",
        "0.0.0.0",
        "0",
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "198.18.0.1",
        "224.0.0.1",
        "255.255.255.255",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "fec0::1",
        "ff02::1",
        "64:ff9b::a00:1",
        "2002:7f00:1::",
        "localhost",
        "localhost.",
        "LOCALHOST",
        "rebind.example.com",
        "metadata.example.com",
        "mapped.example.com",
        "nip.example.com",
    ],
)
def test_it_refuses_non_public_addresses(host):
    with pytest.raises(BlockedAddress):
        resolve_public(host, 443, allow=[])


@pytest.mark.parametrize("host", ["mail.example.com", PUBLIC_V4, PUBLIC_V6, "8.8.8.8"])
def test_it_accepts_public_addresses(host):
    infos = resolve_public(host, 993, allow=[])

    assert infos and all(info[4][1] == 993 for info in infos)


def test_it_returns_the_addresses_it_checked():
    infos = resolve_public("mail.example.com", 443, allow=[])

    assert [info[4][0] for info in infos] == [PUBLIC_V4, PUBLIC_V6]


def test_it_lets_an_unknown_name_fail_as_a_lookup_error():
    with pytest.raises(socket.gaierror):
        resolve_public("nowhere.invalid", 443, allow=[])


def test_it_allows_a_listed_range():
    infos = resolve_public("127.0.0.1", 8080, allow=["127.0.0.0/8"])

    assert infos[0][4] == ("127.0.0.1", 8080)


def test_it_allows_a_listed_range_in_its_ipv4_mapped_spelling():
    resolve_public("mapped.example.com", 443, allow=["192.168.1.0/24"])


def test_it_allows_a_listed_host_name():
    infos = resolve_public("Office.Example.com.", 993, allow=["office.example.com"])

    assert infos[0][4][0] == "192.168.10.20"


def test_a_listed_range_does_not_open_other_private_addresses():
    with pytest.raises(BlockedAddress):
        resolve_public("10.0.0.1", 443, allow=["127.0.0.1/32", "office.example.com"])


def test_a_name_with_one_address_outside_the_allowed_range_is_refused():
    with pytest.raises(BlockedAddress):
        resolve_public("localhost", 443, allow=["127.0.0.1/32"])
