"""A worker killed in the middle of a POP3 cleanup (os._exit, as SIGKILL: no finally, no
except) and the next cleanup: the server copy is deleted exactly when the local copy is
safe, the audit log ends saying what really happened, and nothing is lost (issue 5,
"No data loss, proven"; mail-sync.md rule 5).

Runs in processes of their own against the shared throwaway database of
tests/test_celery_worker.py, as tests/services/test_pop3_fetch_crash.py does."""

import json
import subprocess
import sys

import redis

from tests.dovecot import new_mail_user
from tests.pop3_helpers import message
from tests.services.test_pop3_fetch_crash import server_digests
from tests.test_celery_worker import BASE_DIR, REDIS_URL, deployment, redis_up  # noqa: F401

CLEAN_AND_DIE = """
import django, json, os, sys; django.setup()
from accounts.models import MailAccount, User
from webmail.models import Pop3Keep
from webmail.services import pop3_cleanup
from webmail.services.pop3_fetch import pop3_fetch
from webmail.services.pop3_policy import pop3_policy_set
login, password, host, port = json.load(sys.stdin)
alice = User.objects.filter(username='alice').first() or User.objects.create_user(
    'alice', 'alice@example.org', 'pw-alice-1')
account = MailAccount(user=alice, email=login + '@example.org', protocol='pop3',
    incoming_host=host, incoming_port=port, incoming_security='none', incoming_login=login)
account.set_incoming_password(password); account.save()
print(account.pk, flush=True)
pop3_policy_set(account=account, keep=Pop3Keep.DELETE_AFTER_DOWNLOAD)
assert pop3_fetch(account=account).complete
def die(name):
    if name == sys.argv[1]:
        os._exit(137)
pop3_cleanup.crash_hook = die
pop3_cleanup.pop3_cleanup(account=account)
"""

# Where the worker dies, and whether the server still holds the copies afterwards.
POINTS = [
    ("delete_requested", True),  # rows marked, no DELE sent
    ("after_dele", True),  # DELE sent, the connection dies without QUIT: rolled back
    ("after_quit", False),  # the server deleted; the rows were never marked so
]


def test_a_worker_killed_mid_cleanup_and_the_next_cleanup_settle_every_message(
    deployment,  # noqa: F811 (the fixture imported above)
    dovecot,
):
    # One deployment (a database migrated in a process of its own costs seconds) for
    # the three points, each on a mailbox and account of its own.
    for point, server_keeps in POINTS:
        mail_user = new_mail_user(dovecot)
        for n in range(3):
            mail_user.append("INBOX", message(f"Mail {n}"))
        fetched = server_digests(mail_user)
        given = [mail_user.name, mail_user.password, dovecot.host, dovecot.pop3_port]

        died = subprocess.run(
            [sys.executable, "-c", CLEAN_AND_DIE, point],
            cwd=BASE_DIR, env=deployment.env, input=json.dumps(given), capture_output=True,
            text=True, timeout=120,
        )  # fmt: skip

        assert died.returncode == 137, (point, died.stderr)
        account_id = int(died.stdout)
        assert len(server_digests(mail_user)) == (3 if server_keeps else 0), point
        lock = f"{deployment.env['REDIS_KEY_PREFIX']}lock:account-sync:{account_id}"
        redis.Redis.from_url(REDIS_URL).delete(lock)  # the dead worker's lock, expired
        out = deployment.run(
            [sys.executable, "manage.py", "mailaccount", "cleanup", str(account_id)]
        )

        assert server_digests(mail_user) == [], point  # deleted now, or already
        stored = deployment.query(
            f"SELECT digest FROM webmail_storedmessage WHERE account_id = {account_id}"
        )
        assert sorted(row[0] for row in stored) == fetched, point  # each kept here, once
        states = deployment.query(
            f"SELECT DISTINCT state FROM webmail_pop3uidl WHERE account_id = {account_id}"
        )
        assert states == [("deleted",)], point
        outcomes = sorted(
            row[0]
            for row in deployment.query(
                f"SELECT outcome FROM webmail_serverdeletion WHERE account_id = {account_id}"
            )
        )
        # The run that died left three rows; after a rollback the next run wrote three more.
        expected = ["deleted"] * 3 + (["not_deleted"] * 3 if server_keeps else [])
        assert outcomes == sorted(expected), point
        assert ("3 deleted" in out) == server_keeps, (point, out)
