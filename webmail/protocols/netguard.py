"""The SSRF guard: resolve a host a user or a mail named, and refuse anything but the public
internet.

Two rules make it work:

1. Every address the name resolves to must be public. A name that resolves to one public
   and one private address is refused, because the caller could end up on either.
2. Callers connect to the returned, checked addresses and never resolve the name again;
   a second lookup could answer differently (DNS rebinding).

Addresses are checked after `getaddrinfo` has turned every spelling (`127.1`, `0x7f.1`,
`2130706433`, `::ffff:127.0.0.1`) into one canonical form, so there is no string matching
on what the user typed. `ipaddress.is_global` alone is not enough on Python 3.11: it calls
multicast, `fec0::/10` and IPv4-compatible `::7f00:1` global, so the list below is explicit.
"""

from __future__ import annotations

import ipaddress
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NOT_PUBLIC_V4 = tuple(
    ipaddress.IPv4Network(net)
    for net in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches the local host on Linux
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, incl. cloud metadata 169.254.169.254
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, incl. 255.255.255.255
    )
)
_NOT_PUBLIC_V6 = tuple(
    ipaddress.IPv6Network(net)
    for net in (
        "::/96",  # unspecified, loopback and the deprecated IPv4-compatible form
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard
        "2001::/23",  # IETF protocol assignments, incl. Teredo
        "2001:db8::/32",  # documentation
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # deprecated site-local
        "ff00::/8",  # multicast
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class BlockedAddress(Exception):
    """The host resolves (at least partly) to an address we must not connect to."""


def address_is_public(address: IPAddress) -> bool:
    """True only for addresses on the public internet. IPv6 forms that carry an IPv4
    address (mapped, NAT64, 6to4) are judged by that IPv4 address, since that is where the
    packets end up."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return address_is_public(embedded)
    blocked = _NOT_PUBLIC_V4 if address.version == 4 else _NOT_PUBLIC_V6
    if any(address in network for network in blocked):
        return False
    return address.is_global and not address.is_multicast and not address.is_reserved


def resolve_public(host: str, port: int, *, allow: list[str]) -> list[tuple]:
    """`socket.getaddrinfo` results for `host`, all of them public (or allowed).

    `allow` lists host names and CIDR ranges an administrator opened on purpose (an
    on-premise mail server, the test suite's servers on 127.0.0.1). A listed host name
    skips the check for its addresses; a range admits addresses inside it.

    Raises `BlockedAddress` if any address is refused, and lets `socket.gaierror` (an
    `OSError`) through when the name does not resolve.
    """
    name = _host_normalise(host)
    allowed_names, allowed_networks = _allow_parse(allow)
    infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    if not infos:
        raise BlockedAddress(f"{host} has no address")
    if name in allowed_names:
        return infos
    for info in infos:
        address = sockaddr_address(info[4])
        if address_is_public(address):
            continue
        if any(_in_network(address, network) for network in allowed_networks):
            continue
        raise BlockedAddress(f"{host} resolves to a non-public address")
    return infos


def sockaddr_address(sockaddr: tuple) -> IPAddress:
    """The IP of a getaddrinfo sockaddr, without an IPv6 zone suffix (`fe80::1%eth0`)."""
    return ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if address.version == 4:
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def _in_network(address: IPAddress, network: IPNetwork) -> bool:
    # An allowed IPv4 range also admits its IPv4-mapped IPv6 spelling.
    embedded = _embedded_ipv4(address)
    return address in network or (embedded is not None and embedded in network)


def _host_normalise(host: str) -> str:
    # "[::1]" comes from URLs, "Example.COM." is the same name as "example.com".
    return host.strip().removeprefix("[").removesuffix("]").rstrip(".").lower()


def _allow_parse(allow: list[str]) -> tuple[set[str], list[IPNetwork]]:
    names: set[str] = set()
    networks: list[IPNetwork] = []
    for entry in allow:
        entry = entry.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.add(_host_normalise(entry))
    return names, networks
