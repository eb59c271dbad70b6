"""pop3_fetch under the faults issue 5 ("No data loss, proven") still lacked: the server
stopped and started again mid-fetch, a database error at the commit, a disk that refuses
the bytes, two workers on one account at once. Each ends with mail-sync.md's check
(pop3_helpers.assert_nothing_lost): every message ever on the server is there still or
stored here with the same bytes, and nothing is stored twice. The cut connection and the
killed worker are in test_pop3_fetch.py and test_pop3_fetch_crash.py."""

import errno
import logging
import os
import queue
import threading

import pytest
import redis
from django.db import OperationalError, connection

from tests.dovecot import Dovecot, new_mail_user
from tests.faultproxy import FaultProxy
from tests.personas import pop3_account_for
from tests.pop3_helpers import assert_nothing_lost, files_under, message
from webmail.blobs import BlobWriter
from webmail.models import IndexedMessage, Pop3Uidl, StoredMessage
from webmail.services import pop3_fetch as fetching
from webmail.services.local_store import blob_store
from webmail.services.pop3_fetch import pop3_fetch


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path  # blobs and file locks of this test only


@pytest.fixture
def own_dovecot():
    """A Dovecot of this test alone, as it is stopped and started again."""
    with Dovecot() as server:
        yield server


def three_messages() -> list[bytes]:
    return [message(f"Mail {n}", f"Text {n}\r\n".encode() * (n + 1)) for n in range(3)]


def at_nth(point: str, nth: int, action):
    """A crash hook that calls `action()` when the fetch reaches `point` the nth time."""
    seen = []

    def hook(name: str) -> None:
        if name == point:
            seen.append(name)
            if len(seen) == nth:
                action()

    return hook


def blobs_on_disk() -> list[str]:
    return [name for name in files_under(blob_store().root) if not name.startswith("tmp/")]


def test_a_server_stopped_mid_fetch_and_started_again_loses_nothing(
    alice, own_dovecot, monkeypatch
):
    user = new_mail_user(own_dovecot)
    sent = three_messages()
    user.append_many("INBOX", sent)
    account = pop3_account_for(alice, own_dovecot, user)
    # The second message is durable here, not committed, when the server goes down.
    server_goes_down = at_nth("blob_stored", 2, own_dovecot.stop_keep_data)
    monkeypatch.setattr(fetching, "crash_hook", server_goes_down)

    report = pop3_fetch(account=account)  # records the error, raises nothing
    monkeypatch.setattr(fetching, "crash_hook", None)
    while_down = pop3_fetch(account=account)

    account.refresh_from_db()
    assert (report.new, report.complete, report.error_code) == (2, False, "unavailable")
    assert while_down.error_code == "connection_refused"
    assert account.sync_error == while_down.error and account.sync_failures == 2
    own_dovecot.start_again()
    again = pop3_fetch(account=account)
    assert (again.new, again.complete, again.listed) == (1, True, 3)
    account.refresh_from_db()
    assert (account.sync_error, account.sync_failures) == ("", 0)
    assert_nothing_lost(user, account, ever=sent)


def test_a_database_error_at_the_commit_keeps_no_half_message_and_the_next_fetch_stores_it(
    alice, dovecot, mail_user, monkeypatch
):
    sent = three_messages()
    mail_user.append_many("INBOX", sent)
    account = pop3_account_for(alice, dovecot, mail_user)
    ledger = Pop3Uidl.objects
    real_get_or_create = ledger.get_or_create
    calls = []

    def locked_on_the_second(**kwargs):
        calls.append(kwargs["uidl"])
        if len(calls) == 2:  # after the StoredMessage and its index row, in one transaction
            raise OperationalError("database is locked")
        return real_get_or_create(**kwargs)

    monkeypatch.setattr(ledger, "get_or_create", locked_on_the_second)

    # Our fault, not the server's: it leaves the task as an error (logged with its
    # traceback), after being recorded on the account.
    with pytest.raises(OperationalError):
        pop3_fetch(account=account)

    account.refresh_from_db()
    assert account.sync_error and account.sync_failures == 1 and account.sync_started_at is None
    # The second message's transaction left nothing: no StoredMessage, no index row, no
    # ledger row, no UID taken. Its blob is durable, pointed at by nothing.
    assert StoredMessage.objects.filter(account=account).count() == 1
    assert IndexedMessage.objects.filter(folder__account=account).count() == 1
    assert Pop3Uidl.objects.filter(account=account).count() == 1
    assert len(blobs_on_disk()) == 2
    again = pop3_fetch(account=account)  # the lock was released, too
    assert (again.new, again.complete) == (2, True)
    assert len(blobs_on_disk()) == 3  # the orphan was taken, not written beside itself
    inbox = IndexedMessage.objects.filter(folder__account=account)
    assert sorted(inbox.values_list("uid", flat=True)) == [1, 2, 3]  # no UID was lost either
    assert_nothing_lost(mail_user, account, ever=sent)


@pytest.mark.parametrize("failing", ["write", "fsync"])
def test_a_full_disk_is_told_to_the_reader_stores_nothing_half_and_the_next_fetch_completes(
    alice, dovecot, mail_user, monkeypatch, caplog, failing
):
    sent = three_messages()
    mail_user.append_many("INBOX", sent)
    account = pop3_account_for(alice, dovecot, mail_user)
    disk_full = threading.Event()
    owner, name = {"write": (BlobWriter, "write"), "fsync": (os, "fsync")}[failing]
    real = getattr(owner, name)

    def refusing(*args):
        if disk_full.is_set():
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(*args)

    monkeypatch.setattr(owner, name, refusing)
    monkeypatch.setattr(fetching, "crash_hook", at_nth("message_committed", 1, disk_full.set))

    with caplog.at_level(logging.ERROR):
        report = pop3_fetch(account=account)  # raises nothing

    account.refresh_from_db()
    assert (report.new, report.complete, report.error_code) == (1, False, "storage_failed")
    assert "disk of this Postfach server is full" in account.sync_error
    assert account.sync_error == report.error and account.sync_failures == 1
    assert any(record.levelno == logging.ERROR for record in caplog.records)  # our fault
    assert files_under(blob_store().temp_dir) == []  # nothing half
    assert len(blobs_on_disk()) == 1
    assert StoredMessage.objects.filter(account=account).count() == 1
    disk_full.clear()  # room again
    monkeypatch.setattr(fetching, "crash_hook", None)
    again = pop3_fetch(account=account)
    assert (again.new, again.complete) == (2, True)
    account.refresh_from_db()
    assert account.sync_error == ""
    assert_nothing_lost(mail_user, account, ever=sent)


@pytest.mark.django_db(transaction=True)
def test_two_workers_fetching_one_account_at_once_fetch_it_once(alice, dovecot, mail_user):
    sent = three_messages()
    mail_user.append_many("INBOX", sent)
    start = threading.Barrier(2)
    finished: queue.Queue = queue.Queue()

    with FaultProxy(dovecot.host, dovecot.pop3_port) as proxy:
        account = pop3_account_for(alice, dovecot, mail_user, port=proxy.port)

        def worker() -> None:
            try:
                start.wait(10)
                finished.put(pop3_fetch(account=account))
            except BaseException as exc:  # seen by the test, not lost in the thread
                finished.put(exc)
            finally:
                connection.close()  # the thread's own connection; the test database must go

        # A slow server: the worker that got in waits for the greeting until released,
        # so the two overlap whichever of them wins.
        proxy.stall_after(0)
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        first = finished.get(timeout=15)
        proxy.release()
        second = finished.get(timeout=15)
        for thread in threads:
            thread.join(10)

    assert first.already_running and first.new == 0
    assert (second.started, second.new, second.complete) == (True, 3, True)
    assert proxy.connections == 1  # the one that stood back never reached the server
    assert_nothing_lost(mail_user, account, ever=sent)


def test_a_second_worker_after_the_first_ones_lock_expired_stores_nothing_twice(
    alice, dovecot, mail_user, redis_locks, monkeypatch, settings
):
    # Celery delivers the task again while the first worker, stalled past LOCK_SECONDS,
    # still holds a downloaded message; its lock has expired and the second one takes it.
    sent = three_messages()
    mail_user.append_many("INBOX", sent)
    account = pop3_account_for(alice, dovecot, mail_user)
    lock_key = f"{settings.REDIS_KEY_PREFIX}lock:account-sync:{account.pk}"
    reports = []

    def second_worker() -> None:
        monkeypatch.setattr(fetching, "crash_hook", None)
        assert redis.Redis.from_url(settings.REDIS_URL).delete(lock_key) == 1  # expired
        reports.append(pop3_fetch(account=account))

    monkeypatch.setattr(fetching, "crash_hook", at_nth("blob_stored", 1, second_worker))

    first = pop3_fetch(account=account)

    [second] = reports
    assert (second.new, second.complete) == (3, True)
    # The first commits the message it held: the same bytes, so only a ledger row
    # (the one the second made already). Then it finds its lock gone and stops.
    assert (first.new, first.linked, first.complete) == (0, 1, False)
    assert Pop3Uidl.objects.filter(account=account).count() == 3
    assert_nothing_lost(mail_user, account, ever=sent)
