"""Fetch one remote image for the image proxy, and nothing else.

The reader's browser never talks to the sender's server: we do, without cookies, Referer or
the reader's address. Each hop goes through `netguard`, and we connect to the address it
checked (never re-resolving the name) so DNS rebinding cannot steer us inside. Only raster
image types come back: SVG can carry script, and anything else has no business in an
`<img>`.
"""

from __future__ import annotations

import http.client
import re
import ssl
import time
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

from webmail.protocols.netguard import BlockedAddress, resolve_public, sockaddr_address

MAX_REDIRECTS = 3
USER_AGENT = "Mozilla/5.0 (compatible; Postfach image proxy)"
RASTER_TYPES = frozenset(
    {
        "image/apng",
        "image/avif",
        "image/bmp",
        "image/gif",
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/x-icon",
        "image/vnd.microsoft.icon",
    }
)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class FetchedImage:
    content_type: str  # one of RASTER_TYPES, without parameters
    data: bytes


class ImageFetchError(Exception):
    """The image could not be fetched; the message is a short reason fit for a log."""


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str  # ASCII (IDNA) host, no brackets
    port: int
    path: str  # request target: path and query

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def image_fetch(url: str, *, max_bytes: int, timeout: float, allow: list[str]) -> FetchedImage:
    """GET `url` and return the image, following at most MAX_REDIRECTS redirects.

    `timeout` bounds the whole fetch, redirects included; `allow` is passed to netguard
    (host names or CIDR ranges that may be private). Raises ImageFetchError on any failure.
    """
    deadline = time.monotonic() + timeout
    for _hop in range(MAX_REDIRECTS + 1):
        target = _target_parse(url)
        try:
            addresses = resolve_public(target.host, target.port, allow=allow)
        except BlockedAddress as error:
            raise ImageFetchError("address not allowed") from error
        except (OSError, UnicodeError) as error:
            raise ImageFetchError("host not found") from error
        try:
            location = _get(target, addresses, deadline=deadline, max_bytes=max_bytes)
        except ImageFetchError:
            raise
        except TimeoutError as error:
            raise ImageFetchError("timed out") from error
        except (OSError, http.client.HTTPException, ValueError) as error:
            raise ImageFetchError("connection failed") from error
        if isinstance(location, FetchedImage):
            return location
        url = urljoin(url, location)
    raise ImageFetchError("too many redirects")


def _target_parse(url: str) -> _Target:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:
        raise ImageFetchError("bad url") from error
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ImageFetchError("not an http(s) url")
    if not parts.hostname or parts.username is not None or parts.password is not None:
        raise ImageFetchError("bad url")
    try:
        host = parts.hostname.encode("idna").decode("ascii")
    except UnicodeError as error:
        raise ImageFetchError("bad url") from error
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    # http.client refuses non-ASCII and control characters in the request line; browsers
    # percent-encode them, so do the same.
    path = re.sub(r"[^\x21-\x7e]", lambda m: quote(m.group(), safe=""), path)
    return _Target(scheme, host, port or (443 if scheme == "https" else 80), path)


def _get(
    target: _Target, addresses: list[tuple], *, deadline: float, max_bytes: int
) -> FetchedImage | str:
    """One request to the first checked address that accepts a connection. Returns the
    image, or the Location of a redirect."""
    last_error: OSError | None = None
    for info in addresses:
        ip = str(sockaddr_address(info[4]))
        connection = _connection(target, ip, timeout=_remaining(deadline))
        try:
            connection.connect()
        except OSError as error:
            connection.close()
            last_error = error
            continue
        try:
            return _exchange(connection, target, deadline=deadline, max_bytes=max_bytes)
        finally:
            connection.close()
    raise last_error or ImageFetchError("connection failed")


def _exchange(
    connection: http.client.HTTPConnection, target: _Target, *, deadline: float, max_bytes: int
) -> FetchedImage | str:
    # No Cookie, no Referer, no forwarded client address: only what any anonymous client sends.
    connection.request(
        "GET",
        target.path,
        headers={"Host": target.host_header, "User-Agent": USER_AGENT, "Accept": "image/*"},
    )
    response = connection.getresponse()
    if response.status in _REDIRECTS:
        location = response.getheader("Location")
        if not location:
            raise ImageFetchError("redirect without location")
        return location
    if response.status != 200:
        raise ImageFetchError(f"http status {response.status}")
    content_type = (response.getheader("Content-Type") or "").split(";", 1)[0].strip().lower()
    if content_type not in RASTER_TYPES:
        raise ImageFetchError("not a raster image")
    declared = response.getheader("Content-Length")
    if declared and declared.strip().isdigit() and int(declared) > max_bytes:
        raise ImageFetchError("too large")
    data = bytearray()
    while chunk := response.read1(_CHUNK):
        data += chunk
        if len(data) > max_bytes:
            raise ImageFetchError("too large")
        _remaining(deadline)
    return FetchedImage(content_type=content_type, data=bytes(data))


def _connection(target: _Target, ip: str, *, timeout: float) -> http.client.HTTPConnection:
    if target.scheme == "https":
        return _PinnedHTTPSConnection(ip, target.port, server_hostname=target.host, timeout=timeout)
    return http.client.HTTPConnection(ip, target.port, timeout=timeout)


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise ImageFetchError("timed out")
    return left


class _PinnedHTTPSConnection(http.client.HTTPConnection):
    """HTTPS to a fixed IP, with the certificate checked against the host name from the
    URL. `http.client.HTTPSConnection` would check it against the IP we pass instead."""

    default_port = http.client.HTTPS_PORT

    def __init__(self, ip: str, port: int, *, server_hostname: str, timeout: float):
        super().__init__(ip, port, timeout=timeout)
        self._server_hostname = server_hostname
        self._context = _tls_context()

    def connect(self) -> None:
        super().connect()
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self._server_hostname)


def _tls_context() -> ssl.SSLContext:
    # The system's CAs, hostname checking on; a seam for tests that bring their own CA.
    return ssl.create_default_context()
