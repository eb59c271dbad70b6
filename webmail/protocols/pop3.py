"""POP3: one session with a mail server, over a socket of our own (RFC 1939, 2449, 2595, 5034).

Why not poplib: its RETR and TOP return the whole message as a list of lines in memory,
its line limit is a module global (2,048 bytes, too small for real mail and not ours to
change for every user of the module), and it has no AUTH. Streaming a message to disk
would need its private `_putcmd`/`_getline`. POP3 is small enough to speak directly:
commands are one line, replies are one status line and, for LIST, UIDL, TOP and RETR,
lines ending in "." alone.

A session is a context manager. The rules it keeps for the fetch and cleanup services
(../shared/design/mail-sync.md):

1. DELE only marks: the server deletes at QUIT (RFC 1939 UPDATE state), so deleting takes
   an explicit `quit()`, which says whether the server answered +OK.
2. A block that ends in an exception closes the socket without QUIT: every DELE of that
   session is rolled back by the server. A block that ends normally without `quit()`
   sends RSET before QUIT, so a forgotten `quit()` never deletes.
3. RETR streams to a file in bounded pieces; memory does not grow with the message or
   its longest line.

Every failure leaves as one of the classes in `errors.py` (or TransferInterrupted, a
ServerUnavailable), never with the password or the server's free text.
"""

from __future__ import annotations

import base64
import hashlib
import re
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from .errors import (
    AuthenticationFailed,
    MailServerError,
    MessageNotFound,
    ServerSettings,
    ServerUnavailable,
    TlsFailed,
    network_errors_classified,
)
from .hostnames import host_name_check

__all__ = [
    "MailboxBusy",
    "Pop3Entry",
    "Pop3Session",
    "TransferInterrupted",
    "TransferOverrun",
    "pop3_login_check",
]

STATUS_LINE_MAX = 4096  # RFC 2449 allows 512 octets; some servers send long greetings
LISTING_LINE_MAX = 1024  # "n size" and "n uidl" (UIDL at most 70 characters)
PIECE = 64 * 1024  # how much of a message line is held at once while streaming
HEADERS_MAX = 1024 * 1024  # TOP n 0 beyond this is read and dropped, not kept
# RFC 1939 7: the APOP timestamp is a msg-id in the greeting.
_APOP_TIMESTAMP = re.compile(rb"<[^<>\s]+@[^<>\s]+>")
_UNSAFE_IN_COMMAND = re.compile(r"[\r\n\x00]")
# The response code of a -ERR (RFC 2449 8, RFC 3206); the free text after it is not kept.
_RESPONSE_CODE = re.compile(rb"^-ERR \[([A-Za-z0-9/-]{1,40})\]")
# Login refusals that say nothing about the password (RFC 3206 4, RFC 2449 8.1).
_BUSY = frozenset({"IN-USE", "LOGIN-DELAY"})
_NOT_THE_PASSWORD = _BUSY | {"SYS/TEMP", "SYS/PERM"}


class TransferInterrupted(ServerUnavailable):
    """The connection ended in the middle of a multi-line reply (RETR, TOP, LIST): what
    arrived is incomplete and must not be kept."""

    code = "transfer_interrupted"


class TransferOverrun(TransferInterrupted):
    """The message went on past the caller's `max_bytes`; nothing of it is to be kept."""

    code = "transfer_overrun"


class MailboxBusy(ServerUnavailable):
    """The server refused the login because another session holds the mailbox ([IN-USE])
    or logins come too often ([LOGIN-DELAY]): try again later, the password is fine."""

    code = "mailbox_busy"


@dataclass(frozen=True)
class Pop3Entry:
    """One message of this session's listing. `number` is valid in this session only;
    `uidl` is None when the server has no UIDL."""

    number: int
    size: int
    uidl: str | None


class Pop3Session:
    """A logged-in POP3 session. `tls_context` replaces the system's trust store (tests
    bring their own CA); `mechanism` says how we logged in ("APOP", "PLAIN" or "USER")."""

    def __init__(self, settings: ServerSettings, *, tls_context: ssl.SSLContext | None = None):
        if settings.security not in ("tls", "starttls", "none"):
            raise ValueError(f"unknown security {settings.security!r}")
        for value in (settings.login, settings.password):
            if _UNSAFE_IN_COMMAND.search(value):
                # A line break would end our command and start another one.
                raise AuthenticationFailed("the login or password holds a line break")
        self.settings = settings
        self._tls_context = tls_context
        self._sock: socket.socket | None = None
        self._file: BinaryIO | None = None
        self._broken = False  # an error mid-command: the stream is out of step, only close
        self._quit_sent = False
        self._deletes = 0
        self.capabilities: frozenset[str] = frozenset()
        self.mechanism = ""
        self.encrypted = False
        self._uidl_known: bool | None = None  # None: not asked yet

    # -- life cycle ---------------------------------------------------------------------

    def __enter__(self) -> Pop3Session:
        try:
            self._open()
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None and not self._broken and not self._quit_sent:
            try:
                if self._deletes:
                    self._command("RSET")  # DELE without quit() must not delete
                self._quit_sent = True
                self._command("QUIT")
            except MailServerError:
                pass  # nothing was to be committed; the server rolls back anyway
        self._close()

    def _open(self) -> None:
        settings = self.settings
        host_name_check(settings.host)
        with self._io("connect"):
            sock = settings.socket_open()  # checked against its host policy, if any
            self._sock = sock
            if settings.security == "tls":
                self._start_tls()
            greeting = self._status_line("greeting")
        self.capabilities = self._capa()
        if settings.security == "starttls":
            if "STLS" not in self.capabilities:
                # Never fall back to sending the password in clear.
                raise TlsFailed("the server does not offer STLS")
            try:
                self._command("STLS")
            except _Refused as exc:
                raise TlsFailed("the server refused STLS") from exc
            with self._io("STLS"):
                self._start_tls()
            self.capabilities = self._capa()  # RFC 2595 4: ask again after TLS
        self._login(greeting)

    def _start_tls(self) -> None:
        context = self._tls_context or ssl.create_default_context()
        assert self._sock is not None
        if self._file is not None:
            # Nothing may follow "+OK" to STLS in clear; a reader over the plain socket
            # would hold it, so it goes before the handshake.
            self._file.close()
        self._sock = context.wrap_socket(self._sock, server_hostname=self.settings.host)
        self._file = self._sock.makefile("rb")
        self.encrypted = True

    def _close(self) -> None:
        for closable in (self._file, self._sock):
            if closable is not None:
                try:
                    closable.close()
                except OSError:
                    pass
        self._file = self._sock = None

    # -- login --------------------------------------------------------------------------

    def _login(self, greeting: bytes) -> None:
        """Picks one mechanism and tries only that one: a refused password is refused.
        In clear (only sensible on loopback) APOP first, since the password itself never
        crosses the wire; inside TLS SASL PLAIN first, since it carries UTF-8 (RFC 4616)."""
        login, password = self.settings.login, self.settings.password
        timestamp = _APOP_TIMESTAMP.search(greeting)
        plain = "PLAIN" in self._sasl_mechanisms()
        order = ["PLAIN", "USER", "APOP"] if self.encrypted else ["APOP", "PLAIN", "USER"]
        offered = {"APOP": timestamp is not None, "PLAIN": plain, "USER": True}
        self.mechanism = next(name for name in order if offered[name])
        try:
            if self.mechanism == "APOP":
                assert timestamp is not None
                digest = hashlib.md5(timestamp.group(0) + password.encode()).hexdigest()
                self._command(f"APOP {login} {digest}", what="APOP")
            elif self.mechanism == "PLAIN":
                token = base64.b64encode(f"\0{login}\0{password}".encode()).decode("ascii")
                self._command(f"AUTH PLAIN {token}", what="AUTH")
            else:
                self._command(f"USER {login}", what="USER")
                self._command(f"PASS {password}", what="PASS")
        except _Refused as exc:
            # The reply may echo what we sent; keep only the class of failure.
            if exc.reason in _BUSY:
                raise MailboxBusy(f"login: [{exc.reason}]") from exc
            if exc.reason in _NOT_THE_PASSWORD:
                raise ServerUnavailable(f"login: [{exc.reason}]") from exc
            raise AuthenticationFailed("the server refused the login") from exc

    def _sasl_mechanisms(self) -> set[str]:
        for capability in self.capabilities:
            if capability.startswith("SASL "):
                return set(capability.split()[1:])
        return set()

    def _capa(self) -> frozenset[str]:
        """CAPA's lines in upper case (RFC 2449); empty for a server without CAPA."""
        try:
            lines = self._listing_lines("CAPA")
        except _Refused:
            return frozenset()
        return frozenset(line.decode("ascii", "replace").strip().upper() for line in lines)

    # -- commands -----------------------------------------------------------------------

    @property
    def uidl_supported(self) -> bool:
        """Whether the server gives UIDLs; known after the first `listing()`."""
        if self._uidl_known is None:
            return "UIDL" in self.capabilities
        return self._uidl_known

    def stat(self) -> tuple[int, int]:
        """(message count, total size in octets) as the server counts them."""
        try:
            reply = self._command("STAT")
        except _Refused as exc:
            raise ServerUnavailable("STAT refused") from exc
        return _two_numbers(reply, "STAT")

    def listing(self) -> list[Pop3Entry]:
        """Every message of this session: number, size (LIST) and UIDL, or None for all
        when the server has no UIDL. A number LIST has but UIDL lacks gets None too."""
        try:
            sizes = [_two_numbers(line, "LIST") for line in self._listing_lines("LIST")]
        except _Refused as exc:
            raise ServerUnavailable("LIST refused") from exc
        uidls: dict[int, str] = {}
        if self._uidl_known is not False:
            try:
                for line in self._listing_lines("UIDL"):
                    parts = line.split()
                    if len(parts) != 2 or not parts[0].isdigit():
                        raise ServerUnavailable("UIDL: unexpected line")
                    uidls[int(parts[0])] = parts[1].decode("ascii", "replace")
                self._uidl_known = True
            except _Refused:
                self._uidl_known = False
        return [Pop3Entry(number, size, uidls.get(number)) for number, size in sizes]

    def top_headers(self, number: int) -> bytes:
        """The message's header section (TOP n 0), for a digest when the server has no
        UIDL. At most HEADERS_MAX bytes are kept; the rest is read and dropped."""
        kept = bytearray()

        class _Bounded:
            def write(self, piece: bytes) -> int:
                room = HEADERS_MAX - len(kept)
                if room > 0:
                    kept.extend(piece[:room])
                return len(piece)

        self._message_to(f"TOP {int(number)} 0", _Bounded(), what="TOP")
        return bytes(kept)

    def retr_to(self, number: int, fileobj: BinaryIO, *, max_bytes: int | None = None) -> int:
        """Streams message `number` into `fileobj` (dots un-stuffed, CRLF kept as sent)
        and returns how many bytes were written. On TransferInterrupted or TimedOut what
        was written is incomplete and the session is unusable: the caller drops the file.
        A message without a final line end gains one: the server adds it (RFC 1939 3).

        `max_bytes` stops a server that sends more than it announced (or without end)
        from filling the disk: TransferOverrun once more would be written. LIST sizes are
        exact at Dovecot but only close at some servers, so give a margin."""
        return self._message_to(f"RETR {int(number)}", fileobj, what="RETR", limit=max_bytes)

    def _message_to(
        self, command: str, out: object, *, what: str, limit: int | None = None
    ) -> int:
        try:
            return self._multiline_to(command, out, what=what, limit=limit)
        except _Refused as exc:
            # No such message (deleted by another client, or marked with DELE here).
            raise MessageNotFound(command) from exc

    def dele(self, number: int) -> None:
        """Marks the message deleted; nothing is gone until `quit()` gets +OK."""
        try:
            self._command(f"DELE {int(number)}", what="DELE")
        except _Refused as exc:
            raise MessageNotFound(f"DELE {int(number)}") from exc
        self._deletes += 1

    def quit(self) -> bool:
        """Ends the session; True only when the server answered +OK, that is, deleted
        every message marked with DELE. False (a -ERR, or no answer because the connection
        dropped) means "unknown": settle it at the next listing."""
        self._quit_sent = True
        try:
            self._command("QUIT")
        except (_Refused, MailServerError):
            return False
        finally:
            self._close()
        return True

    # -- the wire -----------------------------------------------------------------------

    @contextmanager
    def _io(self, what: str) -> Iterator[None]:
        """Network failures as our error classes; any failure leaves the session broken."""
        try:
            with network_errors_classified(self.settings):
                try:
                    yield
                except (OSError, EOFError) as exc:
                    if isinstance(exc, (TimeoutError, ssl.SSLError, socket.gaierror)):
                        raise
                    if isinstance(exc, ConnectionRefusedError):
                        raise
                    raise ServerUnavailable(f"{what}: {type(exc).__name__}") from exc
        except (MailServerError, _Refused) as exc:
            if not isinstance(exc, _Refused):
                self._broken = True
            raise
        except BaseException:
            self._broken = True
            raise

    def _send(self, line: str) -> None:
        if self._sock is None or self._broken:
            raise ServerUnavailable("the session is closed")
        self._sock.sendall(line.encode("utf-8") + b"\r\n")

    def _status_line(self, what: str) -> bytes:
        """Reads one status line; returns it after "+OK", raises _Refused for "-ERR"."""
        if self._file is None:
            assert self._sock is not None
            self._file = self._sock.makefile("rb")
        line = self._file.readline(STATUS_LINE_MAX)
        if not line:
            raise ServerUnavailable(f"{what}: the server closed the connection")
        if not line.endswith(b"\n"):
            raise ServerUnavailable(f"{what}: reply too long")
        if line.startswith(b"+OK"):
            return line[3:].strip()
        if line.startswith(b"+ ") and what == "AUTH":
            # A server that ignores the initial response asks again; it gets nothing
            # more, and "*" cancels (RFC 5034 4).
            self._send("*")
            return self._status_line(what)
        if line.startswith(b"-ERR"):
            code = _RESPONSE_CODE.match(line)
            raise _Refused(what, reason=code.group(1).decode().upper() if code else "")
        raise ServerUnavailable(f"{what}: unexpected reply")

    def _command(self, line: str, *, what: str = "") -> bytes:
        what = what or line.split(" ", 1)[0]
        with self._io(what):
            self._send(line)
            return self._status_line(what)

    def _listing_lines(self, command: str) -> list[bytes]:
        """A multi-line reply of short lines (CAPA, LIST, UIDL), in memory."""
        lines: list[bytes] = []

        class _Lines:
            def write(self, piece: bytes) -> int:
                if len(piece) >= LISTING_LINE_MAX or not piece.endswith(b"\n"):
                    raise ServerUnavailable(f"{command}: line too long")
                lines.append(piece.rstrip(b"\r\n"))
                return len(piece)

        self._multiline_to(command, _Lines(), what=command)
        return lines

    def _multiline_to(
        self, command: str, out: object, *, what: str, limit: int | None = None
    ) -> int:
        """Sends `command` and copies its multi-line reply to `out.write`, a piece at a
        time: each piece is a whole line or, for a line longer than PIECE, part of one.
        Dot-stuffing (RFC 1939 3) is undone at line starts only."""
        self._command(command, what=what)
        written = 0
        at_line_start = True
        with self._io(what):
            try:
                while True:
                    assert self._file is not None
                    piece = self._file.readline(PIECE)
                    if not piece:
                        raise TransferInterrupted(f"{what}: the connection ended mid-reply")
                    if at_line_start and piece[:1] == b".":
                        if piece in (b".\r\n", b".\n"):
                            return written
                        piece = piece[1:]
                    at_line_start = piece.endswith(b"\n")
                    if limit is not None and written + len(piece) > limit:
                        raise TransferOverrun(f"{what}: more than {limit} bytes")
                    out.write(piece)  # type: ignore[attr-defined]
                    written += len(piece)
            except ServerUnavailable as exc:
                if isinstance(exc, TransferInterrupted):
                    raise
                raise TransferInterrupted(f"{what}: {exc.detail}") from exc
            except (OSError, EOFError) as exc:
                if isinstance(exc, (TimeoutError, ssl.SSLError)):
                    raise
                raise TransferInterrupted(f"{what}: {type(exc).__name__}") from exc


class _Refused(ServerUnavailable):
    """The server answered -ERR; the caller decides what that means. Where no caller
    does, it is what it looks like to the reader: an answer we did not expect. `reason`
    is the response code ("IN-USE", "AUTH", ...) or ""."""

    def __init__(self, detail: str = "", *, reason: str = ""):
        super().__init__(detail)
        self.reason = reason


def _two_numbers(reply: bytes, what: str) -> tuple[int, int]:
    parts = reply.split()
    if len(parts) < 2 or not (parts[0].isdigit() and parts[1].isdigit()):
        raise ServerUnavailable(f"{what}: unexpected reply")
    return int(parts[0]), int(parts[1])


def pop3_login_check(settings: ServerSettings) -> None:
    """Connects, logs in and quits without touching a message (no DELE is ever sent here)."""
    with Pop3Session(settings) as session:
        session.quit()
