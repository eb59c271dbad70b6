"""IMAP: the only code that talks to IMAP servers (through imapclient).

One connection per `imap_store(...)` block, opened, logged in and always closed again; no
pool, no cache. Every failure leaves here as one of the classes in `errors.py`, without
the password and without the server's free text. Reading never sets \\Seen (EXAMINE and
BODY.PEEK), and nothing acts on a UID without checking the folder's UIDVALIDITY first
(mail-sync.md, rule 6).
"""

from __future__ import annotations

import imaplib
import re
import socket
import ssl
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError
from imapclient.imap4 import IMAP4WithTimeout
from imapclient.imap_utf7 import decode as decode_utf7
from imapclient.imap_utf7 import encode as encode_utf7
from imapclient.response_parser import parse_fetch_response, parse_response
from imapclient.tls import IMAP4_TLS
from imapclient.tls import wrap_socket as tls_wrap_socket

from webmail.mime.headers import address_list, header_date, header_text
from webmail.mime.text import text_excerpt

from .errors import (
    ActionRefused,
    AuthenticationFailed,
    FolderChanged,
    FolderNotFound,
    MailServerError,
    MessageNotFound,
    NotSupported,
    ServerSettings,
    ServerUnavailable,
    TimedOut,
    TlsFailed,
    network_errors_classified,
)
from .hostnames import host_name_check
from .store import (
    FlagChanges,
    FolderInfo,
    FolderPage,
    FolderSize,
    FolderSnapshot,
    FolderState,
    FolderStatus,
    IndexEntry,
    MessageFacts,
    MessageSummary,
    MovedMessages,
    Quota,
    RawMessage,
    SyncFeatures,
)

__all__ = ["ImapStore", "imap_login_check", "imap_store"]

MAX_PAGE = 500  # summaries per folder_page; a page of the UI is 50
MAX_FOLDERS = 5000  # a hostile or broken server must not make us STATUS forever
MAX_FOLDER_NAME = 1000  # characters; real names are far shorter
STORE_CHUNK = 500  # UIDs per UID STORE, so a "mark all read" never builds a huge line
HEADER_FIELDS = "BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE)]"
SUMMARY_ITEMS = ["UID", "FLAGS", "RFC822.SIZE", "INTERNALDATE", "BODYSTRUCTURE", HEADER_FIELDS]
# What the index keeps of a message (webmail.services.sync); the text comes separately.
INDEX_HEADER_FIELDS = (
    "BODY.PEEK[HEADER.FIELDS (FROM TO CC SUBJECT DATE MESSAGE-ID IN-REPLY-TO REFERENCES)]"
)
FACTS_ITEMS = [
    "UID",
    "FLAGS",
    "RFC822.SIZE",
    "INTERNALDATE",
    "BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE MESSAGE-ID)]",
]
INDEX_ITEMS = [*SUMMARY_ITEMS[:-1], INDEX_HEADER_FIELDS]
MAX_INDEX_BATCH = 1000  # UIDs per messages_index call
HTML_TEXT_FACTOR = 4  # an HTML part's first bytes are mostly markup: fetch this many times more
FLAGS_CHUNK = 5000  # UIDs per FLAGS-only FETCH
SEARCH_WINDOW = 100_000  # UIDs per plain UID SEARCH: its answer stays under 1 MB
MAX_FOLDER_UIDS = 2_000_000  # a server claiming more in one folder is not believed
SPECIAL_USES = frozenset(
    {"\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash"}
)
# Parts a mail program never lists as attachments: the signature half of multipart/signed.
_SIGNATURE_TYPES = frozenset(
    {
        (b"application", b"pgp-signature"),
        (b"application", b"pkcs7-signature"),
        (b"application", b"x-pkcs7-signature"),
    }
)
# A flag or keyword as RFC 3501 allows it (flag-keyword is an atom; system flags start
# with a backslash). Anything else could smuggle syntax into the STORE command.
_FLAG = re.compile(r"^\\?[!#$&'+\-./0-9:;<=>?@A-Z\[^_`a-z|}~]+$")
_FORBIDDEN_IN_NAMES = re.compile(r"[\x00-\x1f\x7f]")  # CR/LF/NUL could inject commands
# RFC 5530 response codes that mean "try again later" rather than "wrong password".
_LOGIN_CODE = re.compile(r"\[([A-Z-]+)\]")
_APPENDUID = re.compile(rb"\[APPENDUID ([0-9]+) ([0-9]+)\]", re.IGNORECASE)
_TRANSIENT_LOGIN_CODES = frozenset({"UNAVAILABLE", "SERVERBUG", "LIMIT", "INUSE"})


# -- connecting --------------------------------------------------------------------------


@contextmanager
def imap_store(settings: ServerSettings) -> Iterator[ImapStore]:
    """A logged-in ImapStore for the length of the block; always logged out afterwards.

    Raises the classes of `errors.py` for connection and login trouble; the store's
    methods raise them for trouble later on. Errors raised by the caller's own code inside
    the block pass through untouched. `settings.timeout` bounds connecting and every single
    wait for the server (it is the socket time-out, not a deadline for a whole command).
    """
    client = _connect(settings)
    store = ImapStore(client, settings)
    try:
        with store._talking():
            _login(client, settings)
        yield store
    finally:
        store._close()


def imap_login_check(settings: ServerSettings) -> None:
    """Connects, logs in and logs out; for the "add account" form. Raises what
    imap_store raises."""
    with imap_store(settings):
        pass


def _connect(settings: ServerSettings) -> IMAPClient:
    if settings.security not in ("tls", "starttls", "none"):
        raise ValueError(f"unknown security {settings.security!r}")
    host_name_check(settings.host)
    with _classified(settings):
        tls = settings.security == "tls"
        client = _IMAPClient(
            settings,
            ssl=tls,
            ssl_context=ssl.create_default_context() if tls else None,
            timeout=settings.timeout,
        )
    # imapclient turns on imaplib's protocol trace (level 5), which logs every command line
    # at DEBUG, LOGIN with its password included, and on an abort dumps the last commands
    # again. Level 0 keeps passwords and mail out of every log.
    client._imap.debug = 0
    try:
        with _classified(settings):
            if settings.security == "starttls":
                if not client.has_capability("STARTTLS"):
                    # Never fall back to plaintext: that would send the password in clear.
                    raise TlsFailed("the server does not offer STARTTLS")
                client.starttls(ssl.create_default_context())
    except BaseException:
        _shutdown(client)
        raise
    return client


class _IMAPClient(IMAPClient):
    """IMAPClient whose socket comes from `ServerSettings.socket_open`: a user's host is
    checked at every connection and connected to at the checked address, while TLS (direct
    or STARTTLS) still names the host for SNI and the certificate check. imapclient opens
    its imaplib connection in `_create_IMAP4`; the classes made there keep `host` as
    typed and only their `_create_socket` (imaplib's seam for this) changes."""

    def __init__(self, settings: ServerSettings, **kwargs: Any) -> None:
        self._server = settings
        super().__init__(settings.host, settings.port, **kwargs)

    def _create_IMAP4(self) -> imaplib.IMAP4:
        timeout = getattr(self._timeout, "connect", None)
        if self.ssl:
            return _PinnedIMAP4TLS(self._server, self.ssl_context, timeout)
        return _PinnedIMAP4(self._server, timeout)


class _PinnedIMAP4(IMAP4WithTimeout):
    def __init__(self, settings: ServerSettings, timeout: float | None) -> None:
        self._server = settings
        super().__init__(settings.host, settings.port, timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        return self._server.socket_open(timeout if timeout is not None else self._timeout)


class _PinnedIMAP4TLS(IMAP4_TLS):
    def __init__(
        self, settings: ServerSettings, context: ssl.SSLContext | None, timeout: float | None
    ) -> None:
        self._server = settings
        super().__init__(settings.host, settings.port, context, timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        sock = self._server.socket_open(timeout if timeout is not None else self._timeout)
        return tls_wrap_socket(sock, self.ssl_context, self.host)


def _login(client: IMAPClient, settings: ServerSettings) -> None:
    if client.has_capability("LOGINDISABLED"):
        # The server itself says: no password over this connection (RFC 3501 6.2.3).
        raise TlsFailed("the server accepts passwords only over TLS")
    try:
        if settings.login.isascii() and settings.password.isascii():
            client.login(settings.login, settings.password)
        elif client.has_capability("AUTH=PLAIN"):
            # LOGIN's quoted strings are ASCII only; SASL PLAIN carries UTF-8 (RFC 4616).
            client.plain_login(settings.login, settings.password)
        else:
            raise AuthenticationFailed("the server accepts only ASCII user names and passwords")
    except LoginError as exc:
        # The reply is the server's free text: keep only its RFC 5530 code, and drop the
        # exception chain so nothing the server echoed can reach a log.
        match = _LOGIN_CODE.search(str(exc))
        code = match.group(1) if match else ""
        if code in _TRANSIENT_LOGIN_CODES:
            raise ServerUnavailable(f"login refused for now [{code}]") from None
        if code == "PRIVACYREQUIRED":
            raise TlsFailed("the server accepts passwords only over TLS") from None
        raise AuthenticationFailed(
            f"the server refused the login [{code}]" if code else "the server refused the login"
        ) from None


def _shutdown(client: IMAPClient) -> None:
    try:
        client.shutdown()
    except OSError:
        pass


# -- error classification ----------------------------------------------------------------


@contextmanager
def _classified(settings: ServerSettings) -> Iterator[None]:
    """Turns socket, TLS and imapclient errors into errors.py classes. The details name
    the host and the kind of failure only: never a password, never server text."""
    where = f"{settings.host}:{settings.port}"
    try:
        with network_errors_classified(settings):
            yield
    except MailServerError:
        raise
    except (OSError, IMAPClientError, EOFError, ValueError, RecursionError) as exc:
        # IMAPClientError covers NO/BAD replies, aborts and ProtocolError; ValueError and
        # RecursionError are what a malformed response can make the parser raise. (Our own
        # argument checks run before this block, so their ValueErrors stay ValueErrors.)
        raise ServerUnavailable(f"{where}: {type(exc).__name__}") from exc


# -- the store ---------------------------------------------------------------------------


class ImapStore:
    """MailStore over one logged-in IMAPClient. Made by `imap_store`, never directly."""

    def __init__(self, client: IMAPClient, settings: ServerSettings) -> None:
        self._client = client
        self._settings = settings
        self._broken = False
        self._sync_features: SyncFeatures | None = None  # set by sync_begin()
        # (folder, UIDVALIDITY, UIDNEXT) while the sync's EXAMINE of a folder is current
        self._examined: tuple[str, int, int] | None = None
        # Aware datetimes as the server sent them; imapclient's default converts them to
        # naive local time, which depends on the machine's time zone.
        client.normalise_times = False

    @contextmanager
    def _talking(self) -> Iterator[None]:
        """Classifies errors while talking to the server, and marks the connection broken
        after a time-out or abort, so closing does not wait for a dead server again."""
        try:
            with _classified(self._settings):
                yield
        except (TimedOut, ServerUnavailable, TlsFailed):
            self._broken = True
            raise

    def _close(self) -> None:
        if not self._broken:
            try:
                # LOGOUT, never CLOSE: CLOSE would expunge what others marked \Deleted.
                self._client.logout()
                return
            except (OSError, IMAPClientError, EOFError):
                pass
        _shutdown(self._client)

    # -- folders --

    def folders(self) -> list[FolderInfo]:
        """Every folder with MESSAGES and UNSEEN, in the server's order: one LIST-STATUS
        round trip where offered (RFC 5819), else LIST and a STATUS per folder."""
        with self._talking():
            if self._client.has_capability("LIST-STATUS"):
                return self._folders_list_status()
            extended = self._client.has_capability("SPECIAL-USE") and self._client.has_capability(
                "LIST-EXTENDED"
            )
            return self._folders_list_then_status(extended=extended)

    def _folders_list_status(self) -> list[FolderInfo]:
        entries, status = self._extended_list("RETURN (SPECIAL-USE STATUS (MESSAGES UNSEEN))")
        return [
            _folder_info(flags, delim, name, status.get(name)) for flags, delim, name in entries
        ]

    def _folders_list_then_status(self, *, extended: bool) -> list[FolderInfo]:
        if extended:
            entries, _ = self._extended_list("RETURN (SPECIAL-USE)")
        else:  # servers without RFC 6154 may still put the attributes in a plain LIST
            entries = [
                (_flag_names(flags), _text(delim), _folder_name(name))
                for flags, delim, name in self._client.list_folders()[:MAX_FOLDERS]
            ]
        folders = []
        for flags, delim, name in entries:
            status = None
            if _is_selectable(flags):
                raw = self._client.folder_status(name, ["MESSAGES", "UNSEEN"])
                status = {k.decode().upper(): int(v) for k, v in raw.items()}
            folders.append(_folder_info(flags, delim, name, status))
        return folders

    def _extended_list(
        self, return_options: str
    ) -> tuple[list[tuple[frozenset[str], str | None, str]], dict[str, dict[str, int]]]:
        """LIST "" "*" with RETURN options (RFC 5258). imapclient has no call for the
        extended form, so it goes through imaplib's public xatom()/response()."""
        imap = self._client._imap
        typ, _ = imap.xatom("LIST", '""', '"*"', return_options)
        # response() also clears what it returns, so nothing is left for later commands.
        _, list_data = imap.response("LIST")
        _, status_data = imap.response("STATUS")
        if typ != "OK":
            raise ServerUnavailable("LIST failed")
        entries = [
            (_flag_names(flags), _text(delim), _folder_name(name))
            for flags, delim, name in _chunks(_parse(list_data), 3)[:MAX_FOLDERS]
        ]
        status: dict[str, dict[str, int]] = {}
        for name, items in _chunks(_parse(status_data), 2)[:MAX_FOLDERS]:
            pairs = _chunks(list(items), 2)
            status[_folder_name(name)] = {_text(k).upper(): int(v) for k, v in pairs}
        return entries, status

    # -- messages --

    def folder_page(self, folder: str, *, offset: int, limit: int) -> FolderPage:
        """`limit` summaries newest first (by sequence number, which is arrival order),
        skipping the `offset` newest. Read-only: EXAMINE and BODY.PEEK."""
        if not 0 < limit <= MAX_PAGE:
            raise ValueError(f"limit must be 1..{MAX_PAGE}")
        if offset < 0:
            raise ValueError("offset must be >= 0")
        with self._talking():
            return self._folder_page(folder, offset, limit)

    def _folder_page(self, folder: str, offset: int, limit: int) -> FolderPage:
        selected = self._select(folder, readonly=True)
        exists = selected.get(b"EXISTS")
        if not isinstance(exists, int):
            raise ServerUnavailable("the server sent no EXISTS")
        uidvalidity = _uidvalidity(selected)
        highest = exists - offset
        if highest < 1:
            return FolderPage(folder, uidvalidity, exists, offset, [])
        lowest = max(1, highest - limit + 1)
        # imapclient's fetch() takes ids only, no "lo:hi" range (see test_imap.py), so the
        # window goes as an explicit list, bounded by MAX_PAGE.
        response = self._fetch_by_sequence(list(range(lowest, highest + 1)), SUMMARY_ITEMS)
        summaries = [_summary(data) for data in response.values() if b"UID" in data]
        summaries.sort(key=lambda s: s.uid, reverse=True)
        return FolderPage(folder, uidvalidity, exists, offset, summaries)

    def _fetch_by_sequence(self, numbers: list[int], items: list[str]) -> dict[int, Any]:
        """A plain (non-UID) FETCH: paging counts positions, which only sequence numbers
        give without first fetching every UID. Sequence numbers stay stable here because
        a server may not send EXPUNGE during a non-UID FETCH (RFC 3501 7.4.1)."""
        self._client.use_uid = False
        try:
            return self._client.fetch(numbers, items)
        finally:
            self._client.use_uid = True

    def message_raw(
        self, folder: str, uid: int, *, uidvalidity: int, max_bytes: int | None = None
    ) -> RawMessage:
        """The message without setting \\Seen. With `max_bytes`, only its first
        `max_bytes` bytes come over the wire and into memory (a partial FETCH, RFC 3501
        6.4.5), and the result says `truncated` when the message goes on."""
        _check_uid(uid)
        if max_bytes is None:
            items = ["BODY.PEEK[]", "FLAGS"]
            key = b"BODY[]"
        elif type(max_bytes) is int and 0 < max_bytes < 2**32 - 1:  # not a bool, not a float
            # One byte more than wanted: receiving it is what tells us the message goes on.
            # RFC822.SIZE alone would not do: it is the server's count, which servers that
            # convert messages on the fly only estimate.
            items = [f"BODY.PEEK[]<0.{max_bytes + 1}>", "FLAGS", "RFC822.SIZE"]
            key = b"BODY[]<0>"
        else:
            raise ValueError(f"max_bytes must be a positive number of bytes: {max_bytes!r}")
        with self._talking():
            self._select_checked(folder, uidvalidity, readonly=True)
            data = self._client.fetch([uid], items).get(uid)
        if not data or key not in data:
            raise MessageNotFound(f"uid {uid}")
        body = bytes(data[key] or b"")  # a partial FETCH of an empty message may send NIL
        truncated = max_bytes is not None and len(body) > max_bytes
        if truncated:
            body = body[:max_bytes]
            size = max(_int(data.get(b"RFC822.SIZE")), max_bytes + 1)
        else:
            size = len(body)
        return RawMessage(
            uid=uid,
            uidvalidity=uidvalidity,
            flags=_message_flags(data.get(b"FLAGS", ())),
            data=body,
            size=size,
            truncated=truncated,
        )

    def flags_add(
        self, folder: str, uids: list[int], flags: list[str], *, uidvalidity: int
    ) -> list[int]:
        """UID STORE +FLAGS.SILENT in chunks, on the UIDs the folder still holds (found by
        UID SEARCH, so the caller can say what happened); UIDs gone meanwhile are skipped,
        which is what "already gone" should mean for flags. Returns the UIDs changed."""
        return self._flags_change(folder, uids, flags, uidvalidity, add=True)

    def flags_remove(
        self, folder: str, uids: list[int], flags: list[str], *, uidvalidity: int
    ) -> list[int]:
        """UID STORE -FLAGS.SILENT, like flags_add."""
        return self._flags_change(folder, uids, flags, uidvalidity, add=False)

    def _flags_change(
        self, folder: str, uids: list[int], flags: list[str], uidvalidity: int, *, add: bool
    ) -> list[int]:
        _check_uids(uids)
        for flag in flags:
            if not _FLAG.match(flag) or flag.lower() == "\\recent":
                raise ValueError(f"not a storable flag: {flag!r}")
        if not uids or not flags:
            return []
        with self._talking():
            self._select_checked(folder, uidvalidity, readonly=False)
            present = self._present(uids)
            change = self._client.add_flags if add else self._client.remove_flags
            with self._refusable():
                for chunk in _chunked(present):
                    change(chunk, flags, silent=True)
        return present

    def message_uids(
        self, folder: str, *, uidvalidity: int, below: int | None = None
    ) -> list[int]:
        """UID SEARCH on the EXAMINEd folder: every UID, or those lower than `below` (the
        UIDNEXT a confirmation page saw, so mail that arrived since is left alone)."""
        if below is not None and below <= 1:
            return []
        with self._talking():
            self._select_checked(folder, uidvalidity, readonly=True)
            criteria = ["UID", f"1:{below - 1}"] if below is not None else ["ALL"]
            found = self._client.search(criteria)
        return sorted(uid for uid in found if below is None or uid < below)

    def message_search(
        self,
        folder: str,
        *,
        words: Sequence[str],
        unseen: bool = False,
        flagged: bool = False,
        since: date | None = None,
        before: date | None = None,
    ) -> tuple[int, list[int]]:
        """UID SEARCH CHARSET UTF-8 on the EXAMINEd folder: the UIDs of messages holding
        each of `words` in their headers or body (TEXT), unread/flagged, sent (Date:
        header) in [since, before), as the index's dates are. Returns the folder's UIDVALIDITY with the UIDs, ascending.
        Every word goes as its own argument (imapclient quotes it, or sends a literal for
        8-bit text); callers pass words of atom characters only (search_fold)."""
        criteria: list[Any] = []
        for word in words:
            criteria += ["TEXT", word]
        if unseen:
            criteria.append("UNSEEN")
        if flagged:
            criteria.append("FLAGGED")
        if since is not None:
            criteria += ["SENTSINCE", since]
        if before is not None:
            criteria += ["SENTBEFORE", before]
        with self._talking():
            selected = self._select(folder, readonly=True)
            found = self._client.search(criteria or ["ALL"], charset="UTF-8")
        return _uidvalidity(selected), sorted(int(uid) for uid in found)

    def message_append(
        self,
        folder: str,
        raw: bytes,
        *,
        flags: Sequence[str] = (),
        when: datetime | None = None,
    ) -> int | None:
        """APPENDs `raw` to `folder` with these flags (\\Seen, \\Draft, ...) and the
        internal date `when` (aware; the server's "now" when None). Returns the new
        message's UID from APPENDUID where the server offers UIDPLUS (RFC 4315), else None.
        A folder that does not exist is FolderNotFound (TRYCREATE); a full mailbox is
        ActionRefused with reason OVERQUOTA. imaplib sends the bytes as a literal with CRLF
        line ends, so nothing in them can end the command early."""
        _check_folder_name(folder)
        flags = list(flags)
        for flag in flags:
            if not isinstance(flag, str) or not _FLAG.match(flag) or flag.lower() == "\\recent":
                raise ValueError(f"not a storable flag: {flag!r}")
        if not isinstance(raw, bytes | bytearray) or not raw:
            raise ValueError("a message to append must be non-empty bytes")
        if when is not None and (when.tzinfo is None or when.utcoffset() is None):
            raise ValueError("when must be an aware datetime")
        with self._talking():
            with self._refusable():
                response = self._client.append(folder, bytes(raw), flags=flags, msg_time=when)
            uidplus = self._has("UIDPLUS")
        match = _APPENDUID.search(response if isinstance(response, bytes) else b"")
        if not uidplus or match is None:
            return None
        uid = int(match.group(2))
        return uid if 0 < uid < 2**32 else None

    def message_candidates(
        self, folder: str, *, size: int, message_id: str = ""
    ) -> tuple[int, list[int]]:
        """UID SEARCH on the EXAMINEd folder for messages of exactly `size` octets
        (RFC822.SIZE) and, with `message_id` (without its angle brackets), that Message-ID
        header: what a copy that must not go up twice looks for first (a POP3 account's
        move to IMAP). Returns the folder's UIDVALIDITY with the UIDs, ascending."""
        if type(size) is not int or size < 1:
            raise ValueError(f"size must be a positive number of octets: {size!r}")
        if _FORBIDDEN_IN_NAMES.search(message_id) or len(message_id) > MAX_FOLDER_NAME:
            raise ValueError("not a Message-ID")
        criteria: list[Any] = ["LARGER", size - 1, "SMALLER", size + 1]
        if message_id:
            criteria += ["HEADER", "Message-ID", f"<{message_id}>"]
        with self._talking():
            selected = self._select(folder, readonly=True)
            found = self._client.search(criteria)
        return _uidvalidity(selected), sorted(int(uid) for uid in found)

    # -- organising (RFC 6851 MOVE, RFC 4315 UIDPLUS, RFC 6154 special use) --

    def messages_move(
        self, folder: str, uids: list[int], target: str, *, uidvalidity: int
    ) -> list[int]:
        """Moves the UIDs the folder still holds to `target` and returns them (see
        messages_move_mapped)."""
        return self.messages_move_mapped(folder, uids, target, uidvalidity=uidvalidity).uids

    def messages_move_mapped(
        self, folder: str, uids: list[int], target: str, *, uidvalidity: int
    ) -> MovedMessages:
        """Moves the UIDs the folder still holds to `target`; returns them with the UIDs
        they got there where the server tells (COPYUID, RFC 4315: in the tagged OK of COPY,
        in an untagged OK before the expunges of MOVE; imaplib files both under COPYUID).

        UID MOVE where offered (atomic per command). Otherwise, in this order so a failure
        can leave a copy but never lose a message: UID COPY, +FLAGS.SILENT \\Deleted, then
        UID EXPUNGE of exactly these UIDs (UIDPLUS); never a bare EXPUNGE, which would also
        remove what other clients marked \\Deleted. With neither extension nothing is done
        (NotSupported). A target that does not exist is FolderNotFound (TRYCREATE).
        """
        _check_uids(uids)
        _check_folder_name(target)
        if target == folder:
            raise ValueError("source and target are the same folder")
        if not uids:
            return MovedMessages(uids=[])
        target_uidvalidity = 0
        new_uids: dict[int, int] = {}
        with self._talking():
            can_move = self._has("MOVE")
            if not can_move and not self._has("UIDPLUS"):
                raise NotSupported("the server offers neither MOVE nor UIDPLUS")
            self._select_checked(folder, uidvalidity, readonly=False)
            present = self._present(uids)
            imap = self._client._imap
            with self._refusable():
                for chunk in _chunked(present):
                    imap.response("COPYUID")  # drops any left over from earlier commands
                    if can_move:
                        self._client.move(chunk, target)
                    else:
                        self._client.copy(chunk, target)
                    _, said = imap.response("COPYUID")
                    if not can_move:
                        self._client.add_flags(chunk, ["\\Deleted"], silent=True)
                        self._client.uid_expunge(chunk)
                    validity, mapping = _copyuid(said, set(chunk))
                    if validity and target_uidvalidity in (0, validity):
                        target_uidvalidity = validity
                        new_uids.update(mapping)
        if len(new_uids) != len(present):  # a chunk without COPYUID: tell nothing
            return MovedMessages(uids=present)
        return MovedMessages(
            uids=present, target_uidvalidity=target_uidvalidity, new_uids=new_uids
        )

    def messages_expunge(self, folder: str, uids: list[int], *, uidvalidity: int) -> list[int]:
        """Removes exactly these UIDs for good: +FLAGS.SILENT \\Deleted, then UID EXPUNGE
        (UIDPLUS). Without UIDPLUS nothing is done (NotSupported): a bare EXPUNGE would also
        remove mail other clients marked \\Deleted. Returns the UIDs that were there."""
        _check_uids(uids)
        if not uids:
            return []
        with self._talking():
            if not self._has("UIDPLUS"):
                raise NotSupported("the server does not offer UIDPLUS")
            self._select_checked(folder, uidvalidity, readonly=False)
            present = self._present(uids)
            with self._refusable():
                for chunk in _chunked(present):
                    self._client.add_flags(chunk, ["\\Deleted"], silent=True)
                    self._client.uid_expunge(chunk)
        return present

    # -- retention rules (issue 7) --

    def retention_search(
        self, folder: str, *, before: date | None, larger_than: int | None
    ) -> tuple[int, list[int]]:
        """UID SEARCH UNDELETED [BEFORE d] [LARGER n] on the EXAMINEd folder. BEFORE
        compares the internal date (when the server received the message), not the Date:
        header a sender can set to anything. UNDELETED leaves alone what another client
        marked \\Deleted and has not expunged yet: that is its decision, not ours."""
        if before is None and larger_than is None:
            raise ValueError("a retention search needs a date or a size")
        if larger_than is not None and larger_than < 0:
            raise ValueError("larger_than must be >= 0")
        criteria: list[Any] = ["UNDELETED"]
        if before is not None:
            criteria += ["BEFORE", before]
        if larger_than is not None:
            criteria += ["LARGER", larger_than]
        with self._talking():
            selected = self._select(folder, readonly=True)
            found = self._client.search(criteria)
        return _uidvalidity(selected), sorted(int(uid) for uid in found)

    def messages_facts(
        self, folder: str, uids: list[int], *, uidvalidity: int
    ) -> list[MessageFacts]:
        """UID FETCH of size, internal date and a few header fields (BODY.PEEK: nothing
        is marked read), in chunks; in UID order."""
        _check_uids(uids)
        facts: list[MessageFacts] = []
        with self._talking():
            self._examined_checked(folder, uidvalidity)
            for chunk in _chunked(sorted(set(uids))):
                found = self._uid_fetch(list(chunk), FACTS_ITEMS)
                for uid in sorted(found):
                    data = found[uid]
                    key = next((k for k in data if k.startswith(b"BODY[HEADER.FIELDS")), None)
                    fields = _header_fields(data.get(key) or b"") if key else {}
                    ids = _message_ids(fields.get("message-id"))
                    facts.append(MessageFacts(_summary(data), ids[0] if ids else ""))
        return facts

    def folder_size(self, folder: str, *, largest: int = 10) -> FolderSize:
        """UID FETCH 1:* (RFC822.SIZE) on the EXAMINEd folder: the sum and the biggest.
        (STATUS SIZE, RFC 8438, would give the sum alone; the biggest need the FETCH.)"""
        with self._talking():
            selected = self._select(folder, readonly=True)
            exists = _int(selected.get(b"EXISTS"))
            sizes: dict[int, int] = {}
            if exists:
                imap = self._client._imap
                typ, _ = imap.xatom("UID", "FETCH", "1:*", "(UID RFC822.SIZE)")
                _, fetched = imap.response("FETCH")
                if typ != "OK":
                    raise ServerUnavailable("FETCH failed")
                for data in parse_fetch_response(fetched, False, False).values():
                    uid = data.get(b"UID")
                    if isinstance(uid, int):
                        sizes[uid] = _int(data.get(b"RFC822.SIZE"))
        biggest = sorted(sizes.items(), key=lambda item: (-item[1], item[0]))[:largest]
        return FolderSize(
            name=folder,
            uidvalidity=_uidvalidity(selected),
            messages=len(sizes),
            octets=sum(sizes.values()),
            largest=biggest,
        )

    def folder_status(self, folder: str) -> FolderStatus:
        _check_folder_name(folder)
        with self._talking():
            return self._status(folder)

    def _status(self, folder: str) -> FolderStatus:
        try:
            raw = self._client.folder_status(folder, ["MESSAGES", "UIDNEXT", "UIDVALIDITY"])
        except IMAPClientAbortError:
            raise
        except IMAPClientError as exc:
            raise FolderNotFound("the server cannot report on this folder") from exc
        values = {_text(key).upper(): value for key, value in raw.items()}
        try:
            return FolderStatus(
                name=folder,
                uidvalidity=int(values["UIDVALIDITY"]),
                uidnext=int(values["UIDNEXT"]),
                messages=int(values["MESSAGES"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ServerUnavailable("incomplete STATUS response") from exc

    def folder_create(self, name: str, *, special_use: str | None = None) -> None:
        """CREATE, with (USE (...)) only where CREATE-SPECIAL-USE is offered: a server
        without it may refuse the argument, or (Dovecot) accept and ignore it."""
        _check_folder_name(name)
        if special_use is not None and special_use not in SPECIAL_USES:
            raise ValueError(f"not a special use: {special_use!r}")
        with self._talking(), self._refusable():
            if special_use and self._has("CREATE-SPECIAL-USE"):
                # imapclient's create_folder() takes no options; imaplib's public xatom does.
                typ, data = self._client._imap.xatom(
                    "CREATE", _quoted(name), f"(USE ({special_use}))"
                )
                if typ != "OK":
                    raise _refusal(_text(data[-1] if data else b""))
            else:
                self._client.create_folder(name)

    def folder_rename(self, name: str, new_name: str) -> None:
        _check_folder_name(name)
        _check_folder_name(new_name)
        with self._talking(), self._refusable():
            self._client.rename_folder(name, new_name)

    def folder_delete(self, name: str, *, uidvalidity: int) -> None:
        """DELETE, after checking the folder is still the one the caller counted (a folder
        deleted and made again meanwhile has a new UIDVALIDITY)."""
        _check_folder_name(name)
        with self._talking():
            if self._status(name).uidvalidity != uidvalidity:
                raise FolderChanged("the folder's UIDVALIDITY changed")
            with self._refusable():
                self._client.delete_folder(name)

    def folder_subscribe(self, name: str, *, subscribed: bool) -> None:
        _check_folder_name(name)
        with self._talking(), self._refusable():
            if subscribed:
                self._client.subscribe_folder(name)
            else:
                self._client.unsubscribe_folder(name)

    def folder_subscriptions(self) -> frozenset[str]:
        with self._talking():
            listed = self._client.list_sub_folders()[:MAX_FOLDERS]
        return frozenset(_folder_name(name) for _flags, _delim, name in listed)

    def special_folder(self, role: str) -> str | None:
        """The first selectable folder the server marks with `role` (RFC 6154): from LIST
        RETURN (SPECIAL-USE) where offered, else from a plain LIST's attributes, where
        servers without the extension may still put them."""
        if role not in SPECIAL_USES:
            raise ValueError(f"not a special use: {role!r}")
        with self._talking():
            if self._has("SPECIAL-USE") and self._has("LIST-EXTENDED"):
                entries, _ = self._extended_list("RETURN (SPECIAL-USE)")
            else:
                entries = [
                    (_flag_names(flags), _text(delim), _folder_name(name))
                    for flags, delim, name in self._client.list_folders()[:MAX_FOLDERS]
                ]
        wanted = role.lower()
        for flags, _delim, name in entries:
            if wanted in {f.lower() for f in flags} and _is_selectable(flags):
                return name
        return None

    # -- quota (RFC 9208) --

    def quota(self, folder: str = "INBOX") -> Quota | None:
        """GETQUOTAROOT for `folder`, only where the server offers QUOTA: the root with the
        largest used share of its STORAGE limit, converted to bytes (the protocol counts
        KiB, 1024 octets), with its MESSAGE counts where that root limits them too. None
        for a NO, or when no root limits storage (Dovecot then answers just "OK No quota",
        with neither QUOTAROOT nor QUOTA, which imapclient's get_quota_root cannot read)."""
        _check_folder_name(folder)
        with self._talking():
            if not self._has("QUOTA"):
                return None
            imap = self._client._imap
            typ, _ = imap.xatom("GETQUOTAROOT", _quoted(folder))
            # response() also clears what it returns, so nothing is left for later commands.
            _, root_data = imap.response("QUOTAROOT")
            _, quota_data = imap.response("QUOTA")
        if typ != "OK":
            return None
        return _quota(_parse(root_data), _parse(quota_data))

    def _has(self, capability: str) -> bool:
        """Every capability check of the organising commands goes through here (the tests
        take MOVE or UIDPLUS away at this seam; Dovecot cannot be told to hide them)."""
        return self._client.has_capability(capability)

    def _present(self, uids: list[int]) -> list[int]:
        """Which of `uids` the selected folder holds, ascending (UID SEARCH in chunks)."""
        wanted = set(uids)
        found: set[int] = set()
        for chunk in _chunked(sorted(wanted)):
            found.update(self._client.search(["UID", ",".join(str(uid) for uid in chunk)]))
        return sorted(found & wanted)

    @contextmanager
    def _refusable(self) -> Iterator[None]:
        """A NO (or BAD) to a change is the server refusing, not a broken connection:
        ActionRefused with the RFC 5530 code only; TRYCREATE/NONEXISTENT: FolderNotFound.
        The chain is dropped so the server's free text reaches no log."""
        try:
            yield
        except IMAPClientAbortError:
            raise
        except IMAPClientError as exc:
            raise _refusal(str(exc)) from None

    # -- keeping the index in step (RFC 7162; used by webmail.services.sync) --

    def sync_begin(self) -> SyncFeatures:
        """ENABLE QRESYNC where offered (it implies CONDSTORE). Only valid before a folder
        is selected (ENABLE belongs to the authenticated state, RFC 5161)."""
        if self._client._imap.state != "AUTH":
            raise ValueError("sync_begin() must come before any folder is selected")
        with self._talking():
            qresync = self._has("QRESYNC") and self._has("ENABLE")
            if qresync:
                enabled = self._client.enable("QRESYNC")
                qresync = any(_text(name).upper() == "QRESYNC" for name in enabled)
            condstore = qresync or self._has("CONDSTORE")
        self._sync_features = SyncFeatures(condstore=condstore, qresync=qresync)
        return self._sync_features

    def folders_state(self) -> list[FolderState]:
        """Every folder with UIDVALIDITY, UIDNEXT, MESSAGES, UNSEEN and (CONDSTORE)
        HIGHESTMODSEQ: one LIST-STATUS round trip where offered (RFC 5819), else LIST and
        a STATUS per selectable folder. A folder whose STATUS fails has uidvalidity 0."""
        items = ["MESSAGES", "UNSEEN", "UIDNEXT", "UIDVALIDITY"]
        with self._talking():
            if self._has("CONDSTORE"):
                items.append("HIGHESTMODSEQ")
            if self._has("LIST-STATUS"):
                entries, status = self._extended_list(
                    f"RETURN (SPECIAL-USE STATUS ({' '.join(items)}))"
                )
            else:
                if self._has("SPECIAL-USE") and self._has("LIST-EXTENDED"):
                    entries, _ = self._extended_list("RETURN (SPECIAL-USE)")
                else:
                    entries = [
                        (_flag_names(flags), _text(delim), _folder_name(name))
                        for flags, delim, name in self._client.list_folders()[:MAX_FOLDERS]
                    ]
                status = {}
                for flags, _delim, name in entries:
                    if not _is_selectable(flags):
                        continue
                    try:
                        raw = self._client.folder_status(name, items)
                    except IMAPClientAbortError:
                        raise
                    except IMAPClientError:
                        continue  # gone meanwhile, or not ours to read: left out this time
                    status[name] = {_text(k).upper(): _int(v) for k, v in raw.items()}
        return [_folder_state(flags, delim, name, status.get(name)) for flags, delim, name in entries]

    def folder_examine(self, folder: str) -> FolderSnapshot:
        """EXAMINE (read-only): the counters the sync of this folder advances to."""
        with self._talking():
            selected = self._select(folder, readonly=True)
            snapshot = FolderSnapshot(
                name=folder,
                uidvalidity=_uidvalidity(selected),
                uidnext=_int(selected.get(b"UIDNEXT")),
                highestmodseq=_int(selected.get(b"HIGHESTMODSEQ")),  # absent: NOMODSEQ
                exists=_int(selected.get(b"EXISTS")),
            )
        self._examined = (folder, snapshot.uidvalidity, snapshot.uidnext)
        return snapshot

    def message_uids_from(self, folder: str, *, uidvalidity: int, first: int = 1) -> list[int]:
        """The UIDs from `first` up, ascending: one UID SEARCH RETURN (ALL) where ESEARCH
        is offered (RFC 4731: ranges, so short whatever the folder's size), else plain UID
        SEARCH in windows of UIDs, each answer well under imaplib's 1 MB line limit."""
        _check_uid(first)
        with self._talking():
            uidnext = self._examined_checked(folder, uidvalidity)
            if self._has("ESEARCH"):
                imap = self._client._imap
                typ, _ = imap.xatom("UID", "SEARCH", "RETURN", "(ALL)", "UID", f"{first}:*")
                _, data = imap.response("ESEARCH")
                if typ != "OK":
                    raise ServerUnavailable("SEARCH failed")
                found = _esearch_all(data)
            else:
                found = []
                low = first
                while low + SEARCH_WINDOW <= uidnext:
                    found += self._client.search(["UID", f"{low}:{low + SEARCH_WINDOW - 1}"])
                    low += SEARCH_WINDOW
                found += self._client.search(["UID", f"{low}:*"])
        # "n:*" always matches the last message, even below n (RFC 3501 6.4.8)
        return sorted({uid for uid in found if uid >= first})

    def messages_index(
        self,
        folder: str,
        uids: list[int],
        *,
        uidvalidity: int,
        text_bytes: int,
        text_known: Callable[[list[IndexEntry]], Collection[int]] | None = None,
    ) -> list[IndexEntry]:
        """Index entries, newest first, for those of `uids` the folder still holds: one UID
        FETCH of flags, size, dates, structure and the header fields the index keeps, then
        the first `text_bytes` of each message's text part (found in its BODYSTRUCTURE; a
        few more of HTML, which is mostly markup), one FETCH per part number, except for
        the UIDs `text_known` names after seeing the entries without text. Only
        BODY.PEEK: nothing becomes \\Seen."""
        _check_uids(uids)
        if len(uids) > MAX_INDEX_BATCH:
            raise ValueError(f"at most {MAX_INDEX_BATCH} UIDs per call")
        if not uids:
            return []
        with self._talking():
            self._examined_checked(folder, uidvalidity)
            found = self._uid_fetch(uids, INDEX_ITEMS)
            entries = self._entries(found)
            known = set(text_known(entries)) if text_known is not None and entries else set()
            wanted = {uid: data for uid, data in found.items() if uid not in known}
            texts = self._texts(wanted, text_bytes) if text_bytes > 0 and wanted else {}
        # Built once, texts added after: parsing an entry's addresses is most of its cost.
        return [
            replace(entry, text=texts[entry.summary.uid])
            if entry.summary.uid in texts else entry
            for entry in entries
        ]

    @staticmethod
    def _entries(found: dict[int, dict[bytes, Any]]) -> list[IndexEntry]:
        entries = []
        for uid in sorted(found, reverse=True):
            try:
                entries.append(_index_entry(found[uid], ""))
            except (TypeError, ValueError, KeyError):
                continue  # a malformed response for one message must not stop the others
        return entries

    def _texts(self, found: dict[int, dict[bytes, Any]], text_bytes: int) -> dict[int, str]:
        parts: dict[int, _TextPart] = {}
        groups: dict[tuple[str, int], list[int]] = {}
        for uid, data in found.items():
            part = _text_part(data.get(b"BODYSTRUCTURE"))
            if part is None:
                continue
            parts[uid] = part
            wanted = text_bytes * HTML_TEXT_FACTOR if part.html else text_bytes
            groups.setdefault((part.number, wanted), []).append(uid)
        texts = {}
        for (number, wanted), group in groups.items():
            fetched = self._uid_fetch(group, [f"BODY.PEEK[{number}]<0.{wanted}>"])
            for uid, data in fetched.items():
                key = next((k for k in data if k.startswith(b"BODY[")), None)
                if key is None or uid not in parts:
                    continue
                part = parts[uid]
                texts[uid] = text_excerpt(
                    bytes(data[key] or b""),
                    transfer_encoding=part.encoding,
                    charset=part.charset,
                    html_text=part.html,
                    limit=text_bytes,
                )
        return texts

    def message_changes(
        self, folder: str, *, uidvalidity: int, since: int, first: int, last: int | None
    ) -> FlagChanges:
        """UID FETCH first:last (FLAGS) (CHANGEDSINCE since [VANISHED]): the flags of the
        messages changed after mod-sequence `since`, and under QRESYNC the UIDs expunged
        since then (VANISHED (EARLIER), plus any VANISHED the server sent unasked, which
        are expunges in this folder too)."""
        _check_uid(first)
        if last is not None:
            _check_uid(last)
        if not isinstance(since, int) or since < 0:
            raise ValueError(f"not a mod-sequence: {since!r}")
        features = self._sync_features
        if features is None or not features.condstore:
            raise NotSupported("the server does not offer CONDSTORE")
        span = f"{first}:{last if last is not None else '*'}"
        modifiers = f"(CHANGEDSINCE {since} VANISHED)" if features.qresync else (
            f"(CHANGEDSINCE {since})"
        )
        with self._talking():
            self._examined_checked(folder, uidvalidity)
            imap = self._client._imap
            typ, _ = imap.xatom("UID", "FETCH", span, "(UID FLAGS)", modifiers)
            _, fetched = imap.response("FETCH")
            _, vanished = imap.response("VANISHED")
            if typ != "OK":
                raise ServerUnavailable("FETCH failed")
            flags = {}
            for data in parse_fetch_response(fetched, False, False).values():
                uid = data.get(b"UID")
                if isinstance(uid, int) and first <= uid <= (last or uid) and b"FLAGS" in data:
                    flags[uid] = _message_flags(data[b"FLAGS"])
            gone = _vanished_uids(vanished)
        return FlagChanges(flags=flags, vanished=gone)

    def message_flags(
        self, folder: str, uids: list[int], *, uidvalidity: int
    ) -> dict[int, frozenset[str]]:
        """The flags of those `uids` the folder still holds (UID FETCH FLAGS in chunks)."""
        _check_uids(uids)
        flags: dict[int, frozenset[str]] = {}
        with self._talking():
            self._examined_checked(folder, uidvalidity)
            ordered = sorted(set(uids))
            for start in range(0, len(ordered), FLAGS_CHUNK):
                chunk = ordered[start : start + FLAGS_CHUNK]
                for uid, data in self._uid_fetch(chunk, ["UID", "FLAGS"]).items():
                    flags[uid] = _message_flags(data.get(b"FLAGS", ()))
        return flags

    def _uid_fetch(self, uids: list[int], items: list[str]) -> dict[int, dict[bytes, Any]]:
        """UID FETCH with the UIDs as a compact sequence set (imapclient's fetch() spells
        out every UID and files unasked FETCH responses by sequence number under UIDs).
        Only answers that carry one of `uids` are kept."""
        imap = self._client._imap
        typ, _ = imap.xatom("UID", "FETCH", _sequence_set(uids), f"({' '.join(items)})")
        _, fetched = imap.response("FETCH")
        if typ != "OK":
            raise ServerUnavailable("FETCH failed")
        wanted = set(uids)
        found: dict[int, dict[bytes, Any]] = {}
        for data in parse_fetch_response(fetched, False, False).values():
            uid = data.get(b"UID")
            if uid in wanted:
                found.setdefault(uid, {}).update(data)
        return found

    def _examined_checked(self, folder: str, uidvalidity: int) -> int:
        """EXAMINEs the folder unless this sync already did (and nothing selected another
        since), checking UIDVALIDITY; returns the UIDNEXT that EXAMINE reported."""
        if self._examined is not None and self._examined[:2] == (folder, uidvalidity):
            return self._examined[2]
        selected = self._select(folder, readonly=True)
        if _uidvalidity(selected) != uidvalidity:
            raise FolderChanged("the folder's UIDVALIDITY changed")
        uidnext = _int(selected.get(b"UIDNEXT"))
        self._examined = (folder, uidvalidity, uidnext)
        return uidnext

    # -- selecting --

    def _select(self, folder: str, *, readonly: bool) -> dict[bytes, Any]:
        self._examined = None
        if not folder or len(folder) > MAX_FOLDER_NAME or _FORBIDDEN_IN_NAMES.search(folder):
            raise FolderNotFound("invalid folder name")
        try:
            return self._client.select_folder(folder, readonly=readonly)
        except IMAPClientAbortError:
            raise
        except IMAPClientError as exc:
            # A NO (or BAD) to SELECT/EXAMINE: no such folder, or one that cannot be opened
            # (\Noselect). The server's text stays out of the message.
            raise FolderNotFound("the server cannot open this folder") from exc

    def _select_checked(self, folder: str, uidvalidity: int, *, readonly: bool) -> None:
        """Selects and aborts unless the folder still has the UIDVALIDITY the caller's UIDs
        came from: after a change the same UID names a different message."""
        selected = self._select(folder, readonly=readonly)
        if _uidvalidity(selected) != uidvalidity:
            raise FolderChanged("the folder's UIDVALIDITY changed")


# -- response helpers --------------------------------------------------------------------


def _parse(data: list[Any] | None) -> list[Any]:
    # imaplib leaves [None] when there were no untagged responses of that kind.
    items = [item for item in (data or []) if item not in (b"", None)]
    return list(parse_response(items)) if items else []


def _chunks(items: Sequence[Any], size: int) -> list[tuple[Any, ...]]:
    if len(items) % size:
        raise ServerUnavailable("malformed LIST/STATUS response")
    return [tuple(items[i : i + size]) for i in range(0, len(items), size)]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _folder_name(value: Any) -> str:
    if isinstance(value, int):  # imapclient parses an all-digit atom such as 2026 as int
        return str(value)
    if value is None:
        raise ServerUnavailable("folder without a name")
    return decode_utf7(value)


def _flag_names(flags: Sequence[Any]) -> frozenset[str]:
    return frozenset(_text(f) for f in flags)


def _message_flags(flags: Sequence[Any]) -> frozenset[str]:
    # \Recent only says which session saw a message first (and IMAP4rev2 drops it);
    # it is nobody's "unread" and cannot be stored.
    return frozenset(f for f in _flag_names(flags) if f.lower() != "\\recent")


def _is_selectable(flags: frozenset[str]) -> bool:
    lowered = {f.lower() for f in flags}
    return not ({"\\noselect", "\\nonexistent"} & lowered)


def _folder_info(
    flags: frozenset[str], delimiter: str | None, name: str, status: dict[str, int] | None
) -> FolderInfo:
    by_lower = {f.lower(): f for f in SPECIAL_USES}
    special = next((by_lower[f.lower()] for f in flags if f.lower() in by_lower), None)
    status = status or {}
    return FolderInfo(
        name=name,
        delimiter=delimiter or None,
        special_use=special,
        selectable=_is_selectable(flags),
        messages=status.get("MESSAGES", 0),
        unseen=status.get("UNSEEN", 0),
    )


def _uidvalidity(selected: dict[bytes, Any]) -> int:
    value = selected.get(b"UIDVALIDITY")
    if not isinstance(value, int):
        # RFC 3501 requires it; without it no UID can be trusted.
        raise ServerUnavailable("the server sent no UIDVALIDITY")
    return value


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _check_uid(uid: int) -> None:
    if not isinstance(uid, int) or isinstance(uid, bool) or not 0 < uid < 2**32:
        raise ValueError(f"not a UID: {uid!r}")


def _check_uids(uids: list[int]) -> None:
    for uid in uids:
        _check_uid(uid)


def _chunked(uids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(uids), STORE_CHUNK):
        yield uids[start : start + STORE_CHUNK]


def _check_folder_name(name: str) -> None:
    if not name or len(name) > MAX_FOLDER_NAME or _FORBIDDEN_IN_NAMES.search(name):
        raise FolderNotFound("invalid folder name")


def _quoted(name: str) -> str:
    """A folder name as an IMAP quoted string, in modified UTF-7 (RFC 3501 5.1.3); names
    with CR, LF or NUL never get here (_check_folder_name)."""
    encoded = encode_utf7(name).decode("ascii")
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _refusal(text: str) -> MailServerError:
    match = _LOGIN_CODE.search(text)
    code = match.group(1) if match else ""
    if code in ("TRYCREATE", "NONEXISTENT"):
        return FolderNotFound(f"the server has no such folder [{code}]")
    return ActionRefused(
        f"the server refused [{code}]" if code else "the server refused", reason=code
    )


def _quota(roots: list[Any], quotas: list[Any]) -> Quota | None:
    """From parsed QUOTAROOT (mailbox, root, root, ...) and QUOTA (root, (resource usage
    limit ...), ...) data: the storage quota of the most used root. Only roots QUOTAROOT
    named count, so an unsolicited QUOTA left over from an earlier command cannot slip in;
    a limit of 0, or a usage or limit that is not a number, is no limit."""
    named = {_text(name) for name in roots[1:]}
    best: Quota | None = None
    for root, resources in _chunks(quotas, 2):
        if _text(root) not in named or not isinstance(resources, tuple):
            continue
        limits: dict[str, tuple[int, int]] = {}
        for resource, usage, limit in _chunks(resources, 3):
            if _int(limit) > 0 and isinstance(usage, int) and not isinstance(usage, bool):
                limits[_text(resource).upper()] = (usage, limit)
        if "STORAGE" not in limits:
            continue
        used, limit = limits["STORAGE"]
        messages, message_limit = limits.get("MESSAGE", (None, None))
        found = Quota(
            root=_text(root),
            used_bytes=used * 1024,
            limit_bytes=limit * 1024,
            messages=messages,
            message_limit=message_limit,
        )
        if best is None or found.fraction > best.fraction:
            best = found
    return best


def _summary(data: dict[bytes, Any]) -> MessageSummary:
    header_key = next((k for k in data if k.startswith(b"BODY[HEADER.FIELDS")), None)
    fields = _header_fields(data.get(header_key) or b"") if header_key else {}
    senders = address_list(fields.get("from"))
    internal = data.get(b"INTERNALDATE")
    internal = internal if isinstance(internal, datetime) else None
    return MessageSummary(
        uid=data[b"UID"],
        subject=header_text(fields.get("subject")),
        sender=senders[0] if senders else None,
        recipients=tuple(address_list(fields.get("to"))),
        date=header_date(fields.get("date")) or internal,
        internal_date=internal,
        size=int(data.get(b"RFC822.SIZE") or 0),
        flags=_message_flags(data.get(b"FLAGS", ())),
        has_attachments=_has_attachments(data.get(b"BODYSTRUCTURE")),
    )


def _header_fields(block: bytes) -> dict[str, bytes]:
    """Raw, unfolded header values by lower-case name; the first occurrence wins. Values
    stay bytes: decoding 8-bit and RFC 2047 text is mime.headers' job."""
    fields: dict[str, bytes] = {}
    current: str | None = None
    for line in block.splitlines():
        if not line.strip():
            if current is None and not fields:
                continue
            break  # the blank line that ends the header block
        if line[:1] in (b" ", b"\t"):
            if current is not None:
                fields[current] += line  # unfolding removes only the line break
            continue
        name, colon, value = line.partition(b":")
        current = None
        if not colon:
            continue
        key = name.strip().decode("ascii", "replace").lower()
        if key not in fields:
            fields[key] = value.lstrip()
            current = key
    return fields


def _has_attachments(body: Any) -> bool:
    """From BODYSTRUCTURE: a leaf with disposition "attachment", or a part that is neither
    text nor multipart, except images inside multipart/related (inline pictures of an HTML
    body) and the signature of multipart/signed. A structure we cannot read counts as none."""
    try:
        return _part_is_attachment(body, parent=b"", depth=0)
    except (TypeError, IndexError, AttributeError, ValueError):
        return False


def _part_is_attachment(part: Any, *, parent: bytes, depth: int) -> bool:
    if part is None or depth > 50:  # a nesting bomb is not worth walking
        return False
    if isinstance(part[0], list):  # multipart: (parts, subtype, ...)
        subtype = _lower(part[1])
        return any(_part_is_attachment(p, parent=subtype, depth=depth + 1) for p in part[0])
    maintype, subtype = _lower(part[0]), _lower(part[1])
    if _disposition(part, maintype, subtype) == b"attachment":
        return True
    if maintype in (b"text", b"multipart"):
        return False
    if maintype == b"image" and parent == b"related":
        return False
    if (maintype, subtype) in _SIGNATURE_TYPES and parent == b"signed":
        return False
    return True


def _disposition(part: Sequence[Any], maintype: bytes, subtype: bytes) -> bytes | None:
    """The disposition type of a leaf. Its position depends on the type (RFC 3501 7.4.2):
    body-fld-md5 follows 7 basic fields, plus `lines` for text and envelope, body and
    lines for message/rfc822."""
    md5_index = 7
    if maintype == b"text":
        md5_index = 8
    elif maintype == b"message" and subtype in (b"rfc822", b"global"):
        md5_index = 10
    index = md5_index + 1
    if len(part) > index and isinstance(part[index], tuple) and part[index]:
        return _lower(part[index][0])
    return None


def _lower(value: Any) -> bytes:
    if isinstance(value, str):
        value = value.encode("ascii", "replace")
    return value.lower() if isinstance(value, bytes) else b""


# -- sync helpers ------------------------------------------------------------------------


def _folder_state(
    flags: frozenset[str], delimiter: str | None, name: str, status: dict[str, int] | None
) -> FolderState:
    info = _folder_info(flags, delimiter, name, status)
    status = status or {}
    return FolderState(
        name=info.name,
        delimiter=info.delimiter,
        special_use=info.special_use,
        selectable=info.selectable,
        uidvalidity=status.get("UIDVALIDITY", 0) if info.selectable else 0,
        uidnext=status.get("UIDNEXT", 0),
        highestmodseq=status.get("HIGHESTMODSEQ", 0),
        messages=info.messages,
        unseen=info.unseen,
    )


def _sequence_set(uids: Sequence[int]) -> str:
    """Ascending UIDs as an IMAP sequence set, runs written as ranges: "1:5,8,10:12"."""
    ordered = sorted(set(uids))
    runs: list[str] = []
    start = previous = ordered[0]
    for uid in ordered[1:] + [None]:
        if uid is not None and uid == previous + 1:
            previous = uid
            continue
        runs.append(str(start) if start == previous else f"{start}:{previous}")
        if uid is not None:
            start = previous = uid
    return ",".join(runs)


_UID_SET = re.compile(rb"^[0-9]+(?::[0-9]+)?(?:,[0-9]+(?::[0-9]+)?)*$")
_ESEARCH_ALL = re.compile(rb"\bALL ([0-9:,]+)", re.IGNORECASE)


def _uid_set(text: bytes) -> list[int]:
    """A sequence set of numbers ("1:3,7") as a list, bounded by MAX_FOLDER_UIDS."""
    text = text.strip()
    if not text:
        return []
    if not _UID_SET.match(text):
        raise ServerUnavailable("malformed UID set")
    uids: list[int] = []
    for item in text.split(b","):
        low, _, high = item.partition(b":")
        a, b = int(low), int(high or low)
        a, b = min(a, b), max(a, b)
        if len(uids) + (b - a + 1) > MAX_FOLDER_UIDS:
            raise ServerUnavailable("more UIDs than a folder may hold here")
        uids.extend(range(a, b + 1))
    return uids


def _copyuid(data: list[Any] | None, moved: set[int]) -> tuple[int, dict[int, int]]:
    """`uidvalidity source-set target-set` of COPYUID responses as (UIDVALIDITY, old UID
    -> new UID), the sets paired in their order (RFC 4315 section 3). Only UIDs of
    `moved` count; anything malformed is (0, {}): the caller then knows nothing."""
    validity = 0
    mapping: dict[int, int] = {}
    try:
        for line in data or []:
            if not isinstance(line, bytes):
                continue
            parts = line.split()
            if len(parts) != 3 or not parts[0].isdigit():
                return 0, {}
            if validity not in (0, int(parts[0])):
                return 0, {}
            validity = int(parts[0])
            old, new = _uid_set(parts[1]), _uid_set(parts[2])
            if len(old) != len(new):
                return 0, {}
            mapping.update((a, b) for a, b in zip(old, new, strict=True) if a in moved)
    except ServerUnavailable:
        return 0, {}
    return validity, mapping


def _esearch_all(data: list[Any] | None) -> list[int]:
    """The UIDs of `* ESEARCH (TAG "x") UID ALL 1:5,8`; no ALL means none matched."""
    uids: list[int] = []
    for line in data or []:
        if isinstance(line, tuple):  # imaplib's (line, literal) pair; ESEARCH has none
            line = line[0]
        if not isinstance(line, bytes):
            continue
        match = _ESEARCH_ALL.search(line)
        if match:
            uids.extend(_uid_set(match.group(1)))
    return uids


def _vanished_uids(data: list[Any] | None) -> list[int]:
    """UIDs of `* VANISHED (EARLIER) 1:3,7` and of `* VANISHED 9` (RFC 7162 3.2.10)."""
    uids: list[int] = []
    for line in data or []:
        if not isinstance(line, bytes):
            continue
        text = line.strip()
        if text[:1] == b"(":
            text = text.partition(b")")[2]
        uids.extend(_uid_set(text))
    return uids


@dataclass(frozen=True)
class _TextPart:
    number: str  # IMAP part number: "1" for a message that is not multipart
    encoding: str  # Content-Transfer-Encoding, lower case
    charset: str | None
    html: bool


def _text_part(body: Any) -> _TextPart | None:
    """The part a reader sees as the message text, from BODYSTRUCTURE: text/plain where a
    multipart/alternative offers it, else text/html; never an attachment."""
    try:
        return _find_text(body, "", 0)
    except (TypeError, IndexError, AttributeError, ValueError):
        return None


def _find_text(part: Any, number: str, depth: int) -> _TextPart | None:
    if part is None or depth > 20:
        return None
    if isinstance(part[0], list):  # multipart: (parts, subtype, ...)
        children = [
            (f"{number}.{index}" if number else str(index), child)
            for index, child in enumerate(part[0], 1)
        ]
        if _lower(part[1]) == b"alternative":
            found = [_find_text(child, n, depth + 1) for n, child in children]
            found = [f for f in found if f is not None]
            return next((f for f in found if not f.html), found[-1] if found else None)
        for n, child in children:
            hit = _find_text(child, n, depth + 1)
            if hit is not None:
                return hit
        return None
    maintype, subtype = _lower(part[0]), _lower(part[1])
    if maintype != b"text" or subtype not in (b"plain", b"html"):
        return None
    if _disposition(part, maintype, subtype) == b"attachment":
        return None
    params = part[2] if isinstance(part[2], tuple) else ()
    charset = next(
        (_text(params[i + 1]) for i in range(0, len(params) - 1, 2)
         if _lower(params[i]) == b"charset"),
        None,
    )
    return _TextPart(
        number=number or "1",
        encoding=_text(part[5]).lower(),
        charset=charset,
        html=subtype == b"html",
    )


_MESSAGE_ID = re.compile(rb"<([^<>\s]{1,250})>")
MAX_REFERENCES = 50  # the last ones: threading needs the nearest ancestors


def _message_ids(value: bytes | None) -> list[str]:
    return [m.decode("utf-8", "replace") for m in _MESSAGE_ID.findall(value or b"")]


def _index_entry(data: dict[bytes, Any], text: str) -> IndexEntry:
    header_key = next((k for k in data if k.startswith(b"BODY[HEADER.FIELDS")), None)
    fields = _header_fields(data.get(header_key) or b"") if header_key else {}
    message_id = _message_ids(fields.get("message-id"))
    in_reply_to = _message_ids(fields.get("in-reply-to"))
    return IndexEntry(
        summary=_summary(data),
        message_id=message_id[0] if message_id else "",
        in_reply_to=in_reply_to[0] if in_reply_to else "",
        references=tuple(_message_ids(fields.get("references"))[-MAX_REFERENCES:]),
        cc=tuple(address_list(fields.get("cc"))),
        text=text,
    )
