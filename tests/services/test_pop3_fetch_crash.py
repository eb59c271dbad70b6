"""A worker that dies in the middle of a POP3 fetch (os._exit: no clean-up, no finally, as
SIGKILL) and the rerun: every message stored exactly once with the server's bytes, and
nothing deleted on the server (issue 5, "No data loss, proven").

The fetch runs in processes of its own against a database they share with the test (the
throwaway database and environment of tests/test_celery_worker.py)."""

import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from tests.pop3_helpers import files_under, message
from tests.test_celery_worker import BASE_DIR, REDIS_URL, deployment, redis_up  # noqa: F401
from webmail.protocols.pop3 import Pop3Session

SETUP = """
import django, json, sys; django.setup()
from accounts.models import MailAccount, User
login, password, host, port = json.load(sys.stdin)
alice = User.objects.create_user('alice', 'alice@example.org', 'pw-alice-1')
account = MailAccount(user=alice, email=login + '@example.org', protocol='pop3',
    incoming_host=host, incoming_port=port, incoming_security='none', incoming_login=login)
account.set_incoming_password(password); account.save()
print(account.pk)
"""

FETCH_AND_DIE = """
import django, os, sys; django.setup()
from accounts.models import MailAccount
from webmail.services import pop3_fetch
point, nth = sys.argv[1], int(sys.argv[2])
seen = []
def die(name):
    if name == point:
        seen.append(name)
        if len(seen) == nth:
            os._exit(137)
pop3_fetch.crash_hook = die
pop3_fetch.pop3_fetch(account=MailAccount.objects.get(pk=int(sys.argv[3])))
"""


def server_digests(mail_user) -> list[str]:
    digests = []
    with Pop3Session(mail_user.pop3_settings()) as session:
        for entry in session.listing():
            out = io.BytesIO()
            session.retr_to(entry.number, out)
            digests.append(hashlib.sha256(out.getvalue()).hexdigest())
        session.quit()
    return sorted(digests)


def _die_at(deployment, point: str, nth: int, account_id: int) -> int:  # noqa: F811
    result = subprocess.run(
        [sys.executable, "-c", FETCH_AND_DIE, point, str(nth), str(account_id)],
        cwd=BASE_DIR, env=deployment.env, capture_output=True, timeout=120,
    )  # fmt: skip
    return result.returncode


@pytest.mark.parametrize(
    ("point", "nth"),
    [
        ("blob_stored", 2),  # the second message durable on disk, its rows not committed
        ("message_committed", 2),  # the second message committed, the third not begun
        ("before_quit", 1),  # everything committed, QUIT never sent
    ],
)
def test_a_worker_killed_mid_fetch_then_rerun_stores_every_message_once(
    deployment, dovecot, mail_user, point, nth  # noqa: F811 (the fixture imported above)
):
    for n in range(3):
        mail_user.append("INBOX", message(f"Mail {n}", f"Text {n}\r\n".encode() * (n + 1)))
    given = [mail_user.name, mail_user.password, dovecot.host, dovecot.pop3_port]
    account_id = int(deployment.run([sys.executable, "-c", SETUP], stdin=json.dumps(given)))

    assert _die_at(deployment, point, nth, account_id) == 137
    # The dead worker's lock on the account lasts until its expiry (LOCK_SECONDS): let
    # that time pass.
    lock = f"{deployment.env['REDIS_KEY_PREFIX']}lock:account-sync:{account_id}"
    assert redis.Redis.from_url(REDIS_URL).delete(lock) == 1
    out = deployment.run([sys.executable, "manage.py", "mailaccount", "fetch", str(account_id)])

    on_server = server_digests(mail_user)
    assert len(on_server) == 3  # nothing was deleted on the server
    stored = sorted(
        row[0]
        for row in deployment.query(
            f"SELECT digest FROM webmail_storedmessage WHERE account_id = {account_id}"
        )
    )
    assert stored == on_server  # each exactly once, with the server's bytes
    ledger = deployment.query(
        f"SELECT COUNT(*) FROM webmail_pop3uidl WHERE account_id = {account_id}"
    )
    indexed = deployment.query(
        "SELECT COUNT(*) FROM webmail_indexedmessage m JOIN webmail_indexedfolder f "
        f"ON m.folder_id = f.id WHERE f.account_id = {account_id} AND f.name = 'INBOX'"
    )
    assert (ledger[0][0], indexed[0][0]) == (3, 3)
    blobs = Path(deployment.env["DATA_DIR"]) / "blobs"
    on_disk = sorted(name.rsplit("/", 1)[1] for name in files_under(blobs) if "/tmp/" not in name)
    assert on_disk == on_server
    assert "3 on the server" in out


def test_a_worker_fetches_a_pop3_account_from_the_sync_task(
    deployment, dovecot, mail_user, tmp_path  # noqa: F811 (the fixture imported above)
):
    for n in range(5):
        mail_user.append("INBOX", message(f"Queued {n}"))
    given = [mail_user.name, mail_user.password, dovecot.host, dovecot.pop3_port]
    account_id = int(deployment.run([sys.executable, "-c", SETUP], stdin=json.dumps(given)))
    deployment.worker_start("solo", tmp_path)

    deployment.send("webmail.tasks.account_sync_task", account_id)

    stored = f"SELECT digest FROM webmail_storedmessage WHERE account_id = {account_id}"
    deployment.wait(lambda: len(deployment.query(stored)) == 5, "the fetch to store 5 messages")
    assert sorted(row[0] for row in deployment.query(stored)) == server_digests(mail_user)
