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
from dataclasses import dataclass

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
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


class BlockedAddress(Exception):
    """The host resolves (at least partly) to an address we must not connect to."""


class ForbiddenHost(BlockedAddress):
    """An administrator forbade this host, or a network one of its addresses is in."""


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


def resolve_public(
    host: str, port: int, *, allow: list[str] | tuple[str, ...], forbid: tuple[str, ...] = ()
) -> list[tuple]:
    """`socket.getaddrinfo` results for `host`, all of them public (or allowed).

    `allow` lists host names and CIDR ranges an administrator opened on purpose (an
    on-premise mail server, the test suite's servers on 127.0.0.1). A listed host name
    (`*.example.org` for every name under example.org) skips the check for its
    addresses; a range admits addresses inside it. `forbid` is written the same way and
    wins over both `allow` and the public internet: a forbidden name is refused before any
    lookup, an address in a forbidden range after it.

    Raises `BlockedAddress` (`ForbiddenHost` for `forbid`) if any address is refused, and
    lets `socket.gaierror` (an `OSError`) through when the name does not resolve.
    """
    name = _host_normalise(host)
    allowed_names, allowed_networks = _allow_parse(allow)
    forbidden_names, forbidden_networks = _allow_parse(forbid)
    if _name_listed(name, forbidden_names):
        raise ForbiddenHost(f"{host} is forbidden")
    infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    if not infos:
        raise BlockedAddress(f"{host} has no address")
    addresses = [sockaddr_address(info[4]) for info in infos]
    for address in addresses:
        if any(_in_network(address, network) for network in forbidden_networks):
            raise ForbiddenHost(f"{host} resolves to a forbidden address")
    if _name_listed(name, allowed_names):
        return infos
    for address in addresses:
        if address_is_public(address):
            continue
        if any(_in_network(address, network) for network in allowed_networks):
            continue
        raise BlockedAddress(f"{host} resolves to a non-public address")
    return infos


@dataclass(frozen=True)
class HostPolicy:
    """Which mail servers a user's account may reach: the public internet, plus what an
    administrator allowed (`allowed`), minus what they forbade (`forbidden`); entries as
    for `resolve_public`. The protocol code gets this in its ServerSettings and calls
    `connect`, so the check runs at every connection, not only when a form was saved."""

    allowed: tuple[str, ...] = ()
    forbidden: tuple[str, ...] = ()

    def connect(self, host: str, port: int, timeout: float | None) -> socket.socket:
        """A TCP connection to `host`, made to an address this policy checked, never to
        the name (which a second lookup could point elsewhere: DNS rebinding). TLS on top
        must still name `host` for SNI and the certificate check. Each address is tried
        in turn, as `socket.create_connection` does; raises BlockedAddress, or the last
        connection error."""
        infos = resolve_public(host, port, allow=self.allowed, forbid=self.forbidden)
        error: OSError | None = None
        for family, kind, proto, _canonical, sockaddr in infos:
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(timeout)
                sock.connect(sockaddr)
                return sock
            except OSError as exc:
                sock.close()
                error = exc
        assert error is not None  # resolve_public never returns an empty list
        raise error


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


def _name_listed(name: str, names: set[str]) -> bool:
    """`name` is listed itself, or under a listed `*.domain` (sub-domains only)."""
    if name in names:
        return True
    labels = name.split(".")
    return any("*." + ".".join(labels[i:]) in names for i in range(1, len(labels)))


def _allow_parse(allow: list[str] | tuple[str, ...]) -> tuple[set[str], list[IPNetwork]]:
    names: set[str] = set()
    networks: list[IPNetwork] = []
    for entry in allow:
        entry = entry.strip()
        if not entry:
            continue
        try:
            network = ipaddress.ip_network(_host_normalise(entry), strict=False)
        except ValueError:
            names.add(_host_normalise(entry))
            continue
        networks.append(_ipv4_spelled_as_ipv6(network))
    return names, networks


def _ipv4_spelled_as_ipv6(network: IPNetwork) -> IPNetwork:
    # "::ffff:10.0.0.0/104" is 10.0.0.0/8; addresses are compared in their IPv4 form.
    if network.version == 6 and network.prefixlen >= 96 and network.subnet_of(_MAPPED):
        v4 = int(network.network_address) & 0xFFFFFFFF
        return ipaddress.IPv4Network((v4, network.prefixlen - 96))
    return network
