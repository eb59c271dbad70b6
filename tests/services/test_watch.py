"""The watcher (webmail.services.watch) against the test Dovecot: who is watched, that new
mail reaches the index, the cap, the back-off and a clean stop. The supervisor's turns
run in the test's thread (`step()`), the watchers in their own threads as in production;
tests/test_mailwatch_process.py runs the real process with a real Celery worker."""

import socket
import threading
import time
from datetime import timedelta

import pytest

from accounts.models import MailAccount, User
from tests.dovecot import new_mail_user
from tests.personas import account_for
from webmail import clock
from webmail.models import IndexedMessage
from webmail.services.sync import account_sync
from webmail.services.watch import WatchSupervisor, accounts_active, backoff_delay

DEADLINE = 10.0  # seconds: the promise for new mail


def _mail(subject: str) -> bytes:
    return f"From: a@example.org\r\nSubject: {subject}\r\n\r\nText\r\n".encode()


def _seen(user: User, minutes_ago: float = 0) -> None:
    User.objects.filter(pk=user.pk).update(
        last_seen_at=clock.now() - timedelta(minutes=minutes_ago)
    )


def _until(supervisor: WatchSupervisor, done, what: str) -> None:
    """Turns the supervisor until `done()` holds, at most DEADLINE seconds."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        supervisor.step()
        if done():
            return
        time.sleep(0.1)
    pytest.fail(f"waited {DEADLINE} s for {what}")


def _syncing(accounts: list[MailAccount]) -> None:
    """A sync callable that syncs at once in this thread, instead of queueing a task."""
    for account in accounts:
        account_sync(account)


def _supervisor(**options) -> WatchSupervisor:
    return WatchSupervisor(
        max_connections=options.pop("max_connections", 10),
        active_minutes=30,
        reconcile_seconds=0.2,
        **options,
    )


@pytest.fixture
def supervisors():
    """Supervisors a test makes; shut down at the end even when the test fails."""
    made: list[WatchSupervisor] = []
    yield made
    for supervisor in made:
        supervisor.shutdown()


def _connected(supervisor: WatchSupervisor) -> set[int]:
    return {pk for pk, watcher in supervisor.watchers.items() if watcher.connected}


def _watching(supervisors, account: MailAccount) -> WatchSupervisor:
    """A supervisor (queueing nothing) whose watcher of `account` is connected."""
    supervisor = _supervisor(sync_queue=lambda accounts: None)
    supervisors.append(supervisor)
    _until(supervisor, lambda: account.pk in _connected(supervisor), "the watcher to connect")
    return supervisor


def _logged_in(dovecot) -> set[str]:
    """The users Dovecot has IMAP connections of, as the server counts them."""
    lines = dovecot.doveadm("who", "-1").splitlines()
    return {line.split()[0] for line in lines[1:] if " imap " in f" {line} "}


def test_it_brings_new_mail_into_the_index_within_seconds(alice, dovecot, mail_user, supervisors):
    account = account_for(alice, dovecot, mail_user)
    account_sync(account)  # the index is current: only new mail can wake the watcher
    _seen(alice)
    supervisor = _supervisor(sync_queue=_syncing)
    supervisors.append(supervisor)
    _until(supervisor, lambda: account.pk in _connected(supervisor), "the watcher to connect")

    mail_user.append("INBOX", _mail("Arrived while watched"))

    _until(
        supervisor,
        lambda: IndexedMessage.objects.filter(
            folder__account=account, subject="Arrived while watched"
        ).exists(),
        "the new mail in the index",
    )


def test_it_syncs_at_once_when_the_inbox_is_ahead_of_the_index(
    alice, dovecot, mail_user, supervisors
):
    mail_user.append("INBOX", _mail("Came before the watcher"))
    account = account_for(alice, dovecot, mail_user)
    _seen(alice)
    queued: list[list[int]] = []
    supervisor = _supervisor(sync_queue=lambda accounts: queued.append([a.pk for a in accounts]))
    supervisors.append(supervisor)

    _until(supervisor, lambda: queued == [[account.pk]], "a sync to be queued")


def test_only_imap_accounts_of_recently_active_users_are_watched(alice, bob, dovecot, db):
    _seen(alice)
    _seen(bob, minutes_ago=31)
    active = account_for(alice, dovecot, new_mail_user(dovecot))
    account_for(bob, dovecot, new_mail_user(dovecot))  # bob left half an hour ago
    pop3 = account_for(alice, dovecot, new_mail_user(dovecot))
    pop3.protocol = MailAccount.Protocol.POP3
    pop3.save()
    carol = User.objects.create_user("carol", "carol@example.org", "carol-password-1")
    account_for(carol, dovecot, new_mail_user(dovecot))  # never signed in

    assert [a.pk for a in accounts_active(minutes=30, limit=10)] == [active.pk]


def test_an_account_waiting_out_a_sync_back_off_is_not_watched(alice, dovecot, mail_user):
    _seen(alice)
    account = account_for(alice, dovecot, mail_user)
    MailAccount.objects.filter(pk=account.pk).update(
        sync_failures=3, sync_error="down", sync_error_at=clock.now()
    )

    assert accounts_active(minutes=30, limit=10) == []


def test_the_cap_bounds_the_idle_connections(alice, bob, dovecot, supervisors):
    carol = User.objects.create_user("carol", "carol@example.org", "carol-password-1")
    users = [new_mail_user(dovecot, prefix="capped") for _ in range(3)]
    for person, user in zip([alice, bob, carol], users, strict=True):
        account_for(person, dovecot, user)
        _seen(person)
    supervisor = _supervisor(max_connections=2, sync_queue=lambda accounts: None)
    supervisors.append(supervisor)

    _until(supervisor, lambda: len(_connected(supervisor)) == 2, "two watchers to connect")
    for _ in range(5):  # more turns: the third account still waits for room
        supervisor.step()
        time.sleep(0.1)

    assert len(supervisor.alive()) == 2
    assert len(_logged_in(dovecot) & {u.name for u in users}) == 2


def test_a_dead_server_is_retried_with_growing_delays(alice, dovecot, mail_user, supervisors):
    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    dead = account_for(alice, dovecot, new_mail_user(dovecot))
    MailAccount.objects.filter(pk=dead.pk).update(incoming_port=dead_port)
    alive = account_for(alice, dovecot, mail_user)
    _seen(alice)
    supervisor = _supervisor(sync_queue=lambda accounts: None, backoff_first=0.1, backoff_cap=0.4)
    supervisors.append(supervisor)

    _until(
        supervisor,
        lambda: len(supervisor.watchers[dead.pk].delays) >= 4,
        "four reconnects to the dead server",
    )

    assert supervisor.watchers[dead.pk].delays[:4] == [0.1, 0.2, 0.4, 0.4]
    assert supervisor.watchers[dead.pk].is_alive()  # it keeps trying
    assert alive.pk in _connected(supervisor)  # and the other account is watched meanwhile


def test_the_back_off_doubles_up_to_its_cap():
    delays = [backoff_delay(n, first=1, cap=300) for n in range(1, 12)]
    assert delays == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]


def test_a_user_who_left_and_a_removed_account_are_let_go(
    alice, bob, dovecot, mail_user, supervisors
):
    leaving = account_for(alice, dovecot, mail_user)
    removed = account_for(bob, dovecot, new_mail_user(dovecot))
    _seen(alice)
    _seen(bob)
    supervisor = _supervisor(sync_queue=lambda accounts: None)
    supervisors.append(supervisor)
    _until(
        supervisor,
        lambda: _connected(supervisor) == {leaving.pk, removed.pk},
        "both watchers to connect",
    )

    _seen(alice, minutes_ago=31)
    removed.delete()

    _until(supervisor, lambda: not supervisor.alive(), "both watchers to stop")
    assert not _logged_in(dovecot) & {mail_user.name}


def test_a_changed_password_gets_a_new_connection(alice, dovecot, mail_user, supervisors):
    account = account_for(alice, dovecot, mail_user)
    _seen(alice)
    supervisor = _watching(supervisors, account)
    first = supervisor.watchers[account.pk]

    account.set_incoming_password(mail_user.password)  # encrypted anew: a new fingerprint
    account.save()

    _until(
        supervisor,
        lambda: (
            supervisor.watchers.get(account.pk) not in (None, first)
            and supervisor.watchers[account.pk].connected
            and not first.is_alive()
        ),
        "a new watcher in place of the old one",
    )


def test_stopping_leaves_no_thread_and_no_connection(alice, dovecot, mail_user, supervisors):
    account = account_for(alice, dovecot, mail_user)
    _seen(alice)
    supervisor = _watching(supervisors, account)

    supervisor.shutdown()

    assert [t.name for t in threading.enumerate() if t.name.startswith("mailwatch-")] == []
    deadline = time.monotonic() + DEADLINE  # Dovecot notices the LOGOUT a moment later
    while mail_user.name in _logged_in(dovecot) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert mail_user.name not in _logged_in(dovecot)


def test_a_page_request_marks_the_user_active_at_most_once_a_minute(alice_client, alice):
    alice_client.get("/mail/counts/")
    alice.refresh_from_db()
    first = alice.last_seen_at
    assert first is not None and clock.now() - first < timedelta(seconds=10)

    alice_client.get("/mail/counts/")
    alice.refresh_from_db()
    assert alice.last_seen_at == first


def test_the_admin_lists_when_each_user_was_last_seen(admin_client, alice):
    _seen(alice)
    page = admin_client.get("/admin/accounts/user/")
    assert page.status_code == 200
    assert "Last seen" in page.content.decode()


def test_a_wrong_password_is_retried_and_never_logged(
    alice, dovecot, mail_user, supervisors, caplog
):
    account = account_for(alice, dovecot, mail_user)
    account.set_incoming_password("wrong-Secret-4711")
    account.save()
    _seen(alice)
    supervisor = _supervisor(sync_queue=lambda accounts: None, backoff_first=0.1)
    supervisors.append(supervisor)

    _until(
        supervisor,
        lambda: len(supervisor.watchers[account.pk].delays) >= 2,
        "two failed logins",
    )

    assert "auth_failed" in caplog.text
    assert "wrong-Secret-4711" not in caplog.text
