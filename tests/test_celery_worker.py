"""End to end: real `celery -A webmail worker` processes, the real Redis as broker and
for the locks, the test Dovecot, and a database the workers share with us.

Which database: the workers are separate processes, so they cannot see pytest-django's
test database when that is SQLite in memory, nor rows a test has not committed. So these
tests make a throwaway database of their own, as a deployment would have, and reach it
only through other processes (`manage.py migrate`, a setup script, the workers) and a
plain query for the results: a temporary SQLite file by default, and a temporary
database on the same PostgreSQL server when DATABASE_URL names one (as in CI), dropped
afterwards. Every process gets the same DATA_DIR (so the same credentials key), the same
REDIS_KEY_PREFIX and a queue (CELERY_QUEUE) no other test run uses.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from celery import Celery

from tests.dovecot import new_mail_user

REDIS_URL = "redis://127.0.0.1:6379/15"
BASE_DIR = Path(__file__).resolve().parent.parent
CELERY = str(Path(sys.executable).parent / "celery")


@pytest.fixture(scope="module")
def redis_up():
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.exceptions.ConnectionError:
        pytest.fail("the tests need Redis on 127.0.0.1:6379 (make test starts one)")


@contextmanager
def throwaway_database(tmp_path: Path):
    """A DATABASE_URL for a new, empty database, and a function running one query in it."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        import psycopg

        name = f"postfach_e2e_{secrets.token_hex(4)}"
        server, _, _ = url.rpartition("/")
        maintenance = f"{server}/postgres"  # as Django's test runner does: the named one may not exist
        with psycopg.connect(maintenance, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:

            def query(sql: str):
                with psycopg.connect(f"{server}/{name}") as connection:
                    return connection.execute(sql).fetchall()

            yield f"{server}/{name}", query
        finally:
            with psycopg.connect(maintenance, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        path = tmp_path / "e2e.sqlite3"

        def query(sql: str):
            with sqlite3.connect(path, timeout=10) as connection:
                return connection.execute(sql).fetchall()

        yield f"sqlite:///{path}", query


class Deployment:
    """The environment every process of one test shares, and ways to run them."""

    def __init__(self, tmp_path: Path, database_url: str, query) -> None:
        self.queue = f"postfach-test-{secrets.token_hex(6)}"
        self.query = query
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "webmail.settings",
            "DATABASE_URL": database_url,
            "DATA_DIR": str(tmp_path / "data"),
            "REDIS_URL": REDIS_URL,
            "REDIS_KEY_PREFIX": f"{self.queue}:",
            "CELERY_QUEUE": self.queue,
            "SYNC_INTERVAL_SECONDS": "3600",
            "LOG_LEVEL": "INFO",
        }
        self.workers: list[tuple[subprocess.Popen, Path]] = []
        self.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"])

    def run(self, args: list[str], stdin: str = "") -> str:
        result = subprocess.run(
            args, cwd=BASE_DIR, env=self.env, input=stdin, capture_output=True, text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def accounts_add(self, users, dovecot) -> list[int]:
        """alice with one IMAP account per Dovecot user, made by a setup script in its
        own process (the accounts' passwords encrypted under the shared DATA_DIR key)."""
        script = (
            "import json, sys, django; django.setup()\n"
            "from accounts.models import MailAccount, User\n"
            "alice = User.objects.create_user('alice', 'alice@example.org', 'pw-alice-1')\n"
            "ids = []\n"
            "for login, password, host, port in json.load(sys.stdin):\n"
            "    a = MailAccount(user=alice, email=login + '@example.org', incoming_host=host,\n"
            "        incoming_port=port, incoming_security='none', incoming_login=login)\n"
            "    a.set_incoming_password(password); a.save(); ids.append(a.pk)\n"
            "print(json.dumps(ids))\n"
        )
        given = [[u.name, u.password, dovecot.host, dovecot.imap_port] for u in users]
        return json.loads(self.run([sys.executable, "-c", script], stdin=json.dumps(given)))

    def worker_start(self, name: str, tmp_path: Path) -> None:
        log = tmp_path / f"{name}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [CELERY, "-A", "webmail", "worker", "--concurrency", "1", "--pool", "prefork",
                 "--without-gossip", "--without-mingle", "--without-heartbeat",
                 "-n", f"{name}-{self.queue}@%h", "--loglevel", "INFO"],
                cwd=BASE_DIR, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        self.workers.append((process, log))
        self.wait(lambda: b" ready." in log.read_bytes(), f"worker {name} to start", log)

    def send(self, task: str, *args) -> None:
        producer = Celery(broker=REDIS_URL)
        try:
            producer.send_task(task, args=list(args), queue=self.queue)
        finally:
            producer.close()

    def wait(self, done, what: str, log: Path | None = None, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done():
                return
            time.sleep(0.2)
        logs = [log] if log else [log for _process, log in self.workers]
        detail = "\n".join(log.read_text(errors="replace")[-3000:] for log in logs)
        pytest.fail(f"waited {timeout} s for {what}\n{detail}")

    def logs(self) -> list[str]:
        return [log.read_text(errors="replace") for _process, log in self.workers]

    def stop(self) -> None:
        for process, _log in self.workers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)  # warm shutdown of main and child
        for process, _log in self.workers:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"*{self.queue}*"):
            client.delete(key)


@pytest.fixture
def deployment(tmp_path, redis_up):
    with throwaway_database(tmp_path) as (url, query):
        deployment = Deployment(tmp_path, url, query)
        try:
            yield deployment
        finally:
            deployment.stop()


def _mail(n: int) -> bytes:
    return f"From: a@example.org\r\nSubject: Mail {n}\r\n\r\nText {n}\r\n".encode()


def test_a_worker_fills_the_index_from_a_queued_task(deployment, dovecot, tmp_path):
    user = new_mail_user(dovecot)
    user.append_many("INBOX", [_mail(n) for n in range(25)])
    [account_id] = deployment.accounts_add([user], dovecot)
    deployment.worker_start("solo", tmp_path)

    deployment.send("webmail.tasks.account_sync_task", account_id)

    count = (
        "SELECT COUNT(*) FROM webmail_indexedmessage m JOIN webmail_indexedfolder f "
        f"ON m.folder_id = f.id WHERE f.account_id = {account_id} AND f.name = 'INBOX'"
    )
    deployment.wait(lambda: deployment.query(count)[0][0] == 25, "the index to fill")
    deployment.wait(
        lambda: deployment.query(
            f"SELECT last_synced_at FROM accounts_mailaccount WHERE id = {account_id}"
        )[0][0] is not None,
        "the sync to finish",
    )
    [(fully, messages)] = deployment.query(
        "SELECT fully_indexed, messages FROM webmail_indexedfolder "
        f"WHERE account_id = {account_id} AND name = 'INBOX'"
    )
    assert (bool(fully), messages) == (True, 25)


def test_two_workers_over_twenty_accounts_sync_each_once_per_round(deployment, dovecot, tmp_path):
    users = [new_mail_user(dovecot, prefix="round") for _ in range(20)]
    for n, user in enumerate(users):
        user.append_many("INBOX", [_mail(n), _mail(n + 100)])
    ids = deployment.accounts_add(users, dovecot)
    deployment.worker_start("one", tmp_path)
    deployment.worker_start("two", tmp_path)

    deployment.send("webmail.tasks.accounts_sync_due")  # one beat round

    synced = "SELECT COUNT(*) FROM accounts_mailaccount WHERE last_synced_at IS NOT NULL"
    deployment.wait(lambda: deployment.query(synced)[0][0] == 20, "every account to be synced")
    time.sleep(1)  # a second sync of an account, were there one, would be logged by now
    runs = [
        [int(n) for n in re.findall(r"account (\d+): sync done", log)] for log in deployment.logs()
    ]
    everything = sorted(runs[0] + runs[1])
    assert everything == sorted(ids)  # each account synced, and exactly once
    assert runs[0] and runs[1], f"one worker did all the work: {runs}"
    rows = deployment.query("SELECT COUNT(*) FROM webmail_indexedmessage")
    assert rows[0][0] == 40


def test_a_worker_prerenders_the_bodies_of_new_mail_after_a_sync(deployment, dovecot, tmp_path):
    user = new_mail_user(dovecot)
    user.append_many("INBOX", [_mail(n) for n in range(3)])
    [account_id] = deployment.accounts_add([user], dovecot)
    deployment.worker_start("solo", tmp_path)

    deployment.send("webmail.tasks.account_sync_task", account_id)

    rendered = (
        "SELECT m.uid, b.html FROM webmail_renderedbody b JOIN webmail_indexedmessage m "
        f"ON b.message_id = m.id WHERE b.account_id = {account_id} ORDER BY m.uid"
    )
    deployment.wait(lambda: len(deployment.query(rendered)) == 3, "the bodies to be rendered")
    bodies = deployment.query(rendered)
    assert all(f"Text {uid - 1}" in html for uid, html in bodies)  # UIDs start at 1
