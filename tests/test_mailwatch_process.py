"""End to end: `manage.py mailwatch` as its own process, a real Celery worker on the real
Redis, the test Dovecot, and a database they share (see tests/test_celery_worker.py for
the Deployment they run in). Mail delivered by another client reaches the index through
watcher -> queue -> worker within the issue's 10 seconds, and SIGTERM ends the watcher
cleanly."""

import signal
import subprocess
import sys
import time

from tests.dovecot import new_mail_user
from tests.test_celery_worker import BASE_DIR, deployment, redis_up  # noqa: F401

DEADLINE = 10.0  # seconds from delivery to the index: the promise


def _mail(subject: str) -> bytes:
    return f"From: a@example.org\r\nSubject: {subject}\r\n\r\nText\r\n".encode()


def _watcher_start(deployment, log) -> subprocess.Popen:  # noqa: F811
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "manage.py", "mailwatch"],
            cwd=BASE_DIR, env=deployment.env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def test_new_mail_reaches_the_index_through_the_watcher_and_a_worker(
    deployment, dovecot, tmp_path  # noqa: F811
):
    user = new_mail_user(dovecot, prefix="watched")
    [account_id] = deployment.accounts_add([user], dovecot)
    deployment.run(
        [sys.executable, "-c", "import django; django.setup()\n"
         "from accounts.models import User; from webmail import clock\n"
         "User.objects.update(last_seen_at=clock.now())\n"]
    )
    deployment.worker_start("solo", tmp_path)
    log = tmp_path / "watcher.log"
    watcher = _watcher_start(deployment, log)
    try:
        # Connecting finds an INBOX the index has never seen, so a first sync is queued.
        deployment.wait(
            lambda: deployment.query(
                f"SELECT last_synced_at FROM accounts_mailaccount WHERE id = {account_id}"
            )[0][0] is not None,
            "the first sync",
            log,
        )
        indexed = (
            "SELECT subject FROM webmail_indexedmessage m JOIN webmail_indexedfolder f "
            f"ON m.folder_id = f.id WHERE f.account_id = {account_id} AND f.name = 'INBOX'"
        )
        assert deployment.query(indexed) == []

        user.append("INBOX", _mail("Pushed by IDLE"))

        deployment.wait(
            lambda: deployment.query(indexed) == [("Pushed by IDLE",)],
            "the new mail in the index",
            log,
            timeout=DEADLINE,
        )
    finally:
        if watcher.poll() is None:
            watcher.send_signal(signal.SIGTERM)
        try:
            code = watcher.wait(timeout=20)
        except subprocess.TimeoutExpired:
            watcher.kill()
            raise
    output = log.read_text(errors="replace")
    assert code == 0, output
    assert "Traceback" not in output
    assert f"account {account_id}: watching INBOX" in output


def test_the_watcher_stops_on_sigint_with_nothing_to_watch(deployment, tmp_path):  # noqa: F811
    log = tmp_path / "watcher.log"
    watcher = _watcher_start(deployment, log)
    deadline = time.monotonic() + DEADLINE
    while b"watching the INBOX" not in log.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.1)

    watcher.send_signal(signal.SIGINT)  # Ctrl-C in honcho

    assert watcher.wait(timeout=20) == 0
    assert "Traceback" not in log.read_text(errors="replace")
