"""Waiting for news in one IMAP folder: IDLE (RFC 2177), or NOOP polling without it.

A wake-up signal only (mail-sync.md): this says *that* the folder changed, never what;
the caller runs the normal incremental sync for that. Connecting, logging in, TLS,
time-outs and the classification of errors are imap.py's (`imap_store`); this adds the
waiting on top of one logged-in ImapStore and raises the same `errors.py` classes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .errors import MailServerError, ServerSettings, ServerUnavailable
from .imap import ImapStore, imap_store
from .store import FolderSnapshot

__all__ = ["FolderWatch", "folder_watch"]

# RFC 2177: servers may log a client out after 30 minutes without a command, and IDLE
# counts as one command; clients should re-issue it at least every 29 minutes.
IDLE_RENEW_SECONDS = 28 * 60
# Without IDLE, how often NOOP asks for news: often enough to matter, rarely enough that
# a few hundred watched accounts cost the server next to nothing.
NOOP_POLL_SECONDS = 30.0
# Untagged responses that mean the folder changed: new or removed messages, changed flags.
_CHANGES = frozenset({b"EXISTS", b"EXPUNGE", b"VANISHED", b"FETCH", b"RECENT"})


@contextmanager
def folder_watch(settings: ServerSettings, folder: str = "INBOX") -> Iterator[FolderWatch]:
    """A logged-in connection with `folder` EXAMINEd (read-only: watching marks nothing
    \\Seen), ready to wait for changes; IDLE is ended and the connection logged out on
    the way out. Raises what `imap_store` raises."""
    with imap_store(settings) as store:
        watch = FolderWatch(store, folder)
        try:
            yield watch
        finally:
            watch._idle_leave_quietly()


class FolderWatch:
    """Made by `folder_watch`, never directly. `snapshot` is what the EXAMINE said, so the
    caller can tell whether its index is behind already before the first wait."""

    def __init__(self, store: ImapStore, folder: str) -> None:
        self._store = store
        # The store's own connection and error handling, not a second copy of them.
        self._client = store._client
        self.folder = folder
        self.snapshot: FolderSnapshot = store.folder_examine(folder)
        self.uses_idle = store._has("IDLE")
        self._idle_since: float | None = None  # monotonic time IDLE was (re-)issued
        self._next_poll = time.monotonic() + NOOP_POLL_SECONDS

    def changes_wait(self, seconds: float) -> bool:
        """Waits up to `seconds` for the server to report a change in the folder (EXISTS,
        EXPUNGE, VANISHED, FETCH, RECENT). True at the first one; False when the time
        passed quietly. Between calls the connection stays in IDLE, so nothing the server
        says in the meantime is lost; a short `seconds` only makes the caller's loop
        turn more often. IDLE is re-issued every IDLE_RENEW_SECONDS."""
        deadline = time.monotonic() + max(0.0, seconds)
        with self._store._talking():
            if not self.uses_idle:
                return self._poll(deadline)
            return self._idle(deadline)

    def _idle(self, deadline: float) -> bool:
        while True:
            now = time.monotonic()
            if self._idle_since is not None and now - self._idle_since >= IDLE_RENEW_SECONDS:
                self._idle_leave()
            if self._idle_since is None:
                # Dovecot looks for changes from the moment IDLE begins: whatever came
                # since EXAMINE or the last DONE would wait for the next change. A NOOP
                # first has it look now (a change in the round trip between the two can
                # still wait; the beat's periodic sync is the net below that).
                _text, responses = self._client.noop()
                _bye_check(responses)
                if _changed(responses):
                    return True
                self._client.idle()
                self._idle_since = now
            if now >= deadline:
                return False
            wait = min(deadline, self._idle_since + IDLE_RENEW_SECONDS) - now
            responses = self._client.idle_check(timeout=wait)
            _bye_check(responses)
            if _changed(responses):
                # Leave IDLE now: the caller syncs over another connection, and the next
                # wait starts a fresh IDLE, which reports whatever came meanwhile.
                self._idle_leave()
                return True
            if not responses and time.monotonic() < now + wait:
                # The socket was readable and gave no response: imapclient reads an end
                # of file as "nothing". DONE tells a closed connection (it raises) from
                # a partial line (it simply finishes the IDLE).
                self._idle_leave()

    def _idle_leave(self) -> None:
        self._idle_since = None
        _text, responses = self._client.idle_done()
        _bye_check(responses)

    def _idle_leave_quietly(self) -> None:
        """Before LOGOUT: a connection that cannot even end its IDLE is closed anyway."""
        if self._idle_since is None:
            return
        try:
            with self._store._talking():
                self._idle_leave()
        except MailServerError:
            pass

    def _poll(self, deadline: float) -> bool:
        while True:
            now = time.monotonic()
            if now >= self._next_poll:
                self._next_poll = now + NOOP_POLL_SECONDS
                _text, responses = self._client.noop()
                _bye_check(responses)
                if _changed(responses):
                    return True
                continue
            if now >= deadline:
                return False
            time.sleep(min(deadline, self._next_poll) - now)


def _changed(responses: list[Any]) -> bool:
    return any(_kind(response) in _CHANGES for response in responses)


def _bye_check(responses: list[Any]) -> None:
    """The server says it is closing the connection (shutdown, auto-logout)."""
    if any(_kind(response) == b"BYE" for response in responses):
        raise ServerUnavailable("the server ended the connection (BYE)")


def _kind(response: Any) -> bytes:
    """`(3, b"EXISTS")` -> b"EXISTS", `(b"OK", b"Still here")` -> b"OK"."""
    if not isinstance(response, tuple) or not response:
        return b""
    first = response[0]
    if isinstance(first, int) and len(response) > 1 and isinstance(response[1], bytes):
        return response[1].upper()
    return first.upper() if isinstance(first, bytes) else b""
