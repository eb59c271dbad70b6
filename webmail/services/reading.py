"""Marking a message read when it was opened from the database alone (selectors,
message_open_indexed): the index says \\Seen at once, and the STORE to the server runs
in the worker, because a page served without the mail server must not wait for an IMAP
login (100-400 ms on a busy machine, and a server that is down would fail the page).

The STORE carries the UIDVALIDITY the UID came from, as every action does. When the
server cannot be reached (or refuses, or the folder changed), nothing is retried: the
task takes the \\Seen back out of the index, so the reader sees the message unread
again, which is what the server still says. The sync alone would not put that right:
the server's counters and HIGHESTMODSEQ did not move, so the folder is skipped, and
QRESYNC reports only messages whose flags changed on the server.

A broker that is down when the page queues the task is treated the same way."""

from __future__ import annotations

import logging

from django.db import transaction

from accounts.models import MailAccount
from webmail.protocols.errors import MailServerError

from .index import index_flags_changed
from .stores import store_open

log = logging.getLogger(__name__)

SEEN_TASK = "webmail.tasks.message_seen_task"


def message_seen_store(*, account: MailAccount, folder: str, uidvalidity: int, uid: int) -> bool:
    """Sets \\Seen on the server; when the server refused or failed, takes it back out of
    the index (see the module's docstring) and returns False."""
    try:
        with store_open(account) as store:
            store.flags_add(folder, [uid], ["\\Seen"], uidvalidity=uidvalidity)
    except MailServerError as exc:
        log.info("account %s: \\Seen not stored, unread again: %s", account.pk, exc.code)
        _seen_undo(account, folder, uidvalidity, uid)
        return False
    return True


def _seen_undo(account: MailAccount, folder: str, uidvalidity: int, uid: int) -> None:
    index_flags_changed(
        account=account, folder=folder, uidvalidity=uidvalidity, uids=[uid], remove=["\\Seen"]
    )


def message_seen_queue(*, account: MailAccount, folder: str, uidvalidity: int, uid: int) -> None:
    """Queues message_seen_store once the current transaction commits (by task name:
    services never import tasks)."""
    from webmail.celery import app

    def send() -> None:
        try:
            app.send_task(SEEN_TASK, args=[account.pk, folder, uidvalidity, uid])
        except Exception:  # a broker that is down must not break the page that asked
            log.exception("account %s: \\Seen not queued, unread again", account.pk)
            _seen_undo(account, folder, uidvalidity, uid)

    transaction.on_commit(send)
