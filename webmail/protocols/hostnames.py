"""Names no resolver can find, told apart before any lookup leaves the machine.

A name that cannot be IDNA-encoded (an empty label as in "mail..example.org", a label
over 63 characters) is a typo; the socket layer would raise UnicodeError, which the
protocol code would report as a broken server. Names under `.invalid` never resolve
(RFC 6761 6.4: resolvers "SHOULD always return immediate negative responses"), so we
answer for them instead of asking the network.
"""

from .errors import HostNotFound


def host_name_check(host: str) -> None:
    """Raise HostNotFound for a host name that cannot exist; return quietly otherwise."""
    name = host.rstrip(".").lower()
    if not name or name == "invalid" or name.endswith(".invalid"):
        raise HostNotFound(host)
    try:
        name.encode("idna")
    except UnicodeError:
        raise HostNotFound(host) from None
