"""pop3_cleanup against the real Dovecot POP3: it deletes from the server exactly the copies
the account's rule allows and whose local copy verifies, in a session after the one that
downloaded them, audits every DELE, and settles what a lost QUIT left open
(mail-sync.md rules 1, 2, 4 and 5, clock guards)."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command

from tests.faultproxy import FaultProxy
from tests.personas import pop3_account_for
from tests.pop3_helpers import message, server_subjects
from webmail import clock
from webmail.models import (
    IndexedMessage,
    Pop3Keep,
    Pop3Policy,
    Pop3Uidl,
    ServerDeletion,
    StoredMessage,
)
from webmail.protocols.pop3 import Pop3Session
from webmail.services import pop3_cleanup as cleaning
from webmail.services.local_mail import LocalStore
from webmail.services.local_store import blob_store
from webmail.services.pop3_cleanup import pop3_cleanup
from webmail.services.pop3_fetch import pop3_fetch
from webmail.services.pop3_policy import pop3_cleanup_plan, pop3_policy_set


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path


def fetched(alice, dovecot, mail_user, *subjects, keep=Pop3Keep.KEEP_DAYS, **policy):
    for subject in subjects:
        mail_user.append("INBOX", message(subject))
    account = pop3_account_for(alice, dovecot, mail_user)
    pop3_policy_set(account=account, keep=keep, **policy)
    assert pop3_fetch(account=account).complete
    return account


def stored_days_ago(account, subject: str, days: int) -> None:
    """Moves a message's durable commit back in time, as if fetched `days` ago."""
    stored = StoredMessage.objects.get(account=account, indexed__subject=subject)
    StoredMessage.objects.filter(pk=stored.pk).update(stored_at=clock.now() - timedelta(days=days))


def local_subjects(account) -> list[str]:
    rows = IndexedMessage.objects.filter(folder__account=account, folder__name="INBOX")
    return sorted(rows.values_list("subject", flat=True))


def test_it_deletes_on_the_server_what_is_older_than_the_days_to_keep(alice, dovecot, mail_user):
    account = fetched(alice, dovecot, mail_user, "Old", "Recent", keep_days=14)
    stored_days_ago(account, "Old", 15)
    stored_days_ago(account, "Recent", 13)

    report = pop3_cleanup(account=account)

    assert (report.deleted, report.error, report.refused) == (1, "", "")
    assert server_subjects(mail_user) == ["Recent"]
    assert local_subjects(account) == ["Old", "Recent"]  # the local copy stays
    old = StoredMessage.objects.get(account=account, indexed__subject="Old")
    assert blob_store().verify(old.digest, old.size)
    audit = ServerDeletion.objects.get(account=account)
    assert (audit.subject, audit.rule, audit.outcome, audit.account_email) == (
        "Old", "keep_days", "deleted", account.email,
    )  # fmt: skip
    assert audit.size == old.size and audit.message_id
    assert Pop3Uidl.objects.get(stored=old).state == "deleted"
    assert report.octets_freed == audit.size


def test_it_deletes_after_download_but_never_in_the_downloading_session(alice, dovecot, mail_user):
    account = fetched(alice, dovecot, mail_user, "One", "Two", keep=Pop3Keep.DELETE_AFTER_DOWNLOAD)
    assert server_subjects(mail_user) == ["One", "Two"]  # the fetch deleted nothing
    mail_user.append("INBOX", message("Not downloaded yet"))

    report = pop3_cleanup(account=account)

    assert report.deleted == 2
    assert server_subjects(mail_user) == ["Not downloaded yet"]
    assert local_subjects(account) == ["One", "Two"]


def test_keep_until_deleted_here_deletes_only_what_was_deleted_for_good_here(
    alice, dovecot, mail_user
):
    account = fetched(
        alice, dovecot, mail_user, "Keep me", "Bin me", keep=Pop3Keep.KEEP_UNTIL_DELETED
    )
    binned = IndexedMessage.objects.get(folder__account=account, subject="Bin me")
    store = LocalStore(account)
    store.messages_expunge("INBOX", [binned.uid], uidvalidity=binned.folder.uidvalidity)
    assert pop3_cleanup(account=account).deleted == 1

    assert server_subjects(mail_user) == ["Keep me"]
    assert ServerDeletion.objects.get(account=account).rule == "deleted_here"


def test_keep_forever_deletes_nothing_but_the_size_limit_still_applies(alice, dovecot, mail_user):
    mail_user.append("INBOX", message("Huge", b"x" * 1_200_000 + b"\r\n"))
    account = fetched(
        alice, dovecot, mail_user, "Small", keep=Pop3Keep.KEEP_FOREVER
    )  # the fetch also stores "Huge"
    assert pop3_cleanup(account=account).deleted == 0
    pop3_policy_set(account=account, keep=Pop3Keep.KEEP_FOREVER, delete_larger_than_mb=1)

    report = pop3_cleanup(account=account)

    assert report.deleted == 1
    assert server_subjects(mail_user) == ["Small"]
    assert ServerDeletion.objects.get(account=account).rule == "larger_than"


def test_a_local_copy_that_no_longer_verifies_keeps_its_server_copy(alice, dovecot, mail_user):
    account = fetched(alice, dovecot, mail_user, "Damaged", "Fine", keep_days=1)
    stored_days_ago(account, "Damaged", 2)
    stored_days_ago(account, "Fine", 2)
    damaged = StoredMessage.objects.get(account=account, indexed__subject="Damaged")
    path = blob_store().path(damaged.digest)
    path.chmod(0o600)
    path.write_bytes(path.read_bytes().replace(b"Hello", b"Jello"))

    report = pop3_cleanup(account=account)

    assert report.deleted == 1
    assert server_subjects(mail_user) == ["Damaged"]
    assert [reason for _uidl, reason in report.skipped] == ["local copy damaged"]
    assert not ServerDeletion.objects.filter(subject="Damaged").exists()


def test_a_dry_run_and_the_plan_delete_nothing_and_say_what_would_go(
    alice, dovecot, mail_user, capsys
):
    account = fetched(alice, dovecot, mail_user, "Old", "New", keep_days=14)
    stored_days_ago(account, "Old", 20)

    plan = pop3_cleanup_plan(account=account)
    call_command("mailaccount", "cleanup", account.email, "--dry-run")

    assert [(item.subject, item.rule) for item in plan.items] == [("Old", "keep_days")]
    out = capsys.readouterr().out
    assert "Old" in out and "New" not in out and "would free" in out
    assert server_subjects(mail_user) == ["New", "Old"]
    assert not ServerDeletion.objects.exists()


def test_a_confirmed_cleanup_deletes_only_what_the_user_confirmed(alice, dovecot, mail_user):
    account = fetched(alice, dovecot, mail_user, "A", "B", "C", keep=Pop3Keep.DELETE_AFTER_DOWNLOAD)
    shown = {item.subject: item.ledger_id for item in pop3_cleanup_plan(account=account).items}

    report = pop3_cleanup(account=account, confirmed={shown["A"], shown["C"]})

    assert report.deleted == 2
    assert server_subjects(mail_user) == ["B"]
    assert set(ServerDeletion.objects.values_list("confirmed_by_user", flat=True)) == {True}


def test_the_schedule_deletes_at_most_a_quarter_of_the_stored_mail_at_once(
    alice, dovecot, mail_user, monkeypatch
):
    monkeypatch.setattr(cleaning, "CLEANUP_MIN_CAP", 2)
    account = fetched(
        alice, dovecot, mail_user, *[f"M{i}" for i in range(8)],
        keep=Pop3Keep.DELETE_AFTER_DOWNLOAD,
    )  # fmt: skip

    first = pop3_cleanup(account=account)

    assert (first.deleted, first.left) == (2, 6)
    assert len(server_subjects(mail_user)) == 6


def through_proxy(account, proxy, monkeypatch, point: str, fault) -> None:
    """Points the account at `proxy` and makes `fault(proxy)` happen at crash point
    `point` of the next cleanup."""
    account.incoming_port = proxy.port
    monkeypatch.setattr(
        cleaning, "crash_hook", lambda name: fault(proxy) if name == point else None
    )


def test_a_connection_cut_during_dele_deletes_nothing_and_says_so(
    alice, dovecot, mail_user, monkeypatch
):
    account = fetched(alice, dovecot, mail_user, "One", keep=Pop3Keep.DELETE_AFTER_DOWNLOAD)
    with FaultProxy(dovecot.host, dovecot.pop3_port) as proxy:
        through_proxy(account, proxy, monkeypatch, "delete_requested", FaultProxy.cut_now)
        report = pop3_cleanup(account=account)

    assert report.deleted == 0 and report.error
    assert server_subjects(mail_user) == ["One"]
    assert Pop3Uidl.objects.get(account=account).state == "stored"
    assert ServerDeletion.objects.get(account=account).outcome == "not_deleted"


def test_a_quit_that_never_arrives_is_unknown_and_the_next_run_finds_the_copy_kept(
    alice, dovecot, mail_user, monkeypatch
):
    account = fetched(alice, dovecot, mail_user, "One", keep=Pop3Keep.DELETE_AFTER_DOWNLOAD)
    with FaultProxy(dovecot.host, dovecot.pop3_port) as proxy:
        through_proxy(account, proxy, monkeypatch, "after_dele", FaultProxy.cut_now)
        report = pop3_cleanup(account=account)
    assert (report.deleted, report.unknown) == (0, 1)
    assert server_subjects(mail_user) == ["One"]  # no QUIT, no deletion

    monkeypatch.setattr(cleaning, "crash_hook", None)
    account.incoming_port = dovecot.pop3_port
    settled = pop3_cleanup(account=account)

    # Found on the server again: back to stored, and deleted under the same checks.
    assert (settled.settled_kept, settled.deleted) == (1, 1)
    assert server_subjects(mail_user) == []
    outcomes = sorted(ServerDeletion.objects.values_list("outcome", flat=True))
    assert outcomes == ["deleted", "not_deleted"]


def test_a_lost_answer_to_quit_is_unknown_until_the_next_listing(
    alice, dovecot, mail_user, monkeypatch
):
    account = fetched(alice, dovecot, mail_user, "One", "Two", keep=Pop3Keep.DELETE_AFTER_DOWNLOAD)
    with FaultProxy(dovecot.host, dovecot.pop3_port) as proxy:
        through_proxy(account, proxy, monkeypatch, "after_dele", lambda p: p.cut_after(0))
        report = pop3_cleanup(account=account)
    assert (report.deleted, report.unknown) == (0, 2)
    assert set(Pop3Uidl.objects.values_list("state", flat=True)) == {"unknown"}
    assert server_subjects(mail_user) == []  # QUIT did reach the server

    monkeypatch.setattr(cleaning, "crash_hook", None)
    account.incoming_port = dovecot.pop3_port
    settled = pop3_cleanup(account=account)

    assert settled.settled_gone == 2
    assert set(Pop3Uidl.objects.values_list("state", flat=True)) == {"deleted"}
    assert set(ServerDeletion.objects.values_list("outcome", flat=True)) == {"deleted"}


def test_a_crash_after_marking_leaves_the_server_copy_and_the_next_run_deletes_it(
    alice, dovecot, mail_user, monkeypatch
):
    account = fetched(alice, dovecot, mail_user, "One", keep=Pop3Keep.DELETE_AFTER_DOWNLOAD)

    def crash(name):
        if name == "after_dele":
            raise SystemExit("worker gone")  # no QUIT: the server rolls the DELE back

    monkeypatch.setattr(cleaning, "crash_hook", crash)
    with pytest.raises(SystemExit):
        pop3_cleanup(account=account)
    monkeypatch.setattr(cleaning, "crash_hook", None)
    assert server_subjects(mail_user) == ["One"]

    report = pop3_cleanup(account=account)

    assert (report.settled_kept, report.deleted) == (1, 1)
    assert server_subjects(mail_user) == []
    outcomes = sorted(ServerDeletion.objects.values_list("outcome", flat=True))
    assert outcomes == ["deleted", "not_deleted"]


def test_a_clock_set_back_deletes_nothing_and_warns(alice, dovecot, mail_user, monkeypatch):
    account = fetched(alice, dovecot, mail_user, "Old", keep_days=14)
    stored = StoredMessage.objects.get(account=account)
    monkeypatch.setattr(clock, "now", lambda: stored.stored_at - timedelta(days=1))

    report = pop3_cleanup(account=account)

    assert report.deleted == 0 and "clock" in report.refused
    assert server_subjects(mail_user) == ["Old"]
    assert "clock" in Pop3Policy.objects.get(account=account).cleanup_warning


def test_a_clock_jumping_forward_past_the_boundary_deletes_nothing_that_run(
    alice, dovecot, mail_user, monkeypatch
):
    account = fetched(alice, dovecot, mail_user, "Fresh", keep_days=14)
    assert pop3_cleanup(account=account).deleted == 0  # the guard's first reading
    real_now = clock.now()
    monkeypatch.setattr(clock, "now", lambda: real_now + timedelta(days=15))

    jumped = pop3_cleanup(account=account)

    assert jumped.deleted == 0 and jumped.refused
    assert server_subjects(mail_user) == ["Fresh"]
    monkeypatch.setattr(clock, "now", lambda: real_now + timedelta(days=16))
    assert pop3_cleanup(account=account).deleted == 1  # the new time held: a real jump


def test_a_reused_uidl_of_the_same_size_is_never_deleted(alice, dovecot, mail_user):
    account = fetched(alice, dovecot, mail_user, "Mine", keep=Pop3Keep.DELETE_AFTER_DOWNLOAD)
    row = Pop3Uidl.objects.get(account=account)
    # The server lists another message, never downloaded, under the same UIDL and size.
    with Pop3Session(mail_user.pop3_settings()) as session:
        out = io.BytesIO()
        session.retr_to(1, out)
        session.quit()
    forged = out.getvalue().replace(b"Subject: Mine", b"Subject: Knew")
    assert len(forged) == row.size
    stored = row.stored
    StoredMessage.objects.filter(pk=stored.pk).update(digest=blob_store().write(forged)[0])

    report = pop3_cleanup(account=account)

    assert report.deleted == 0
    assert [reason for _uidl, reason in report.skipped] == ["headers differ"]
    assert server_subjects(mail_user) == ["Mine"]


def test_the_policy_command_changes_the_rule(alice, dovecot, mail_user, capsys):
    account = pop3_account_for(alice, dovecot, mail_user)

    call_command("mailaccount", "policy", str(account.pk), "--keep-days", "30")
    assert (Pop3Policy.objects.get(account=account).keep_days) == 30
    call_command("mailaccount", "policy", account.email, "--keep-forever")

    policy = Pop3Policy.objects.get(account=account)
    assert policy.keep == Pop3Keep.KEEP_FOREVER
    assert "forever" in capsys.readouterr().out


def test_a_server_without_uidl_is_cleaned_up_by_header_digest(alice, dovecot, mail_user):
    mail_user.append("INBOX", message("One"))
    mail_user.append("INBOX", message("Two"))
    account = pop3_account_for(alice, dovecot, mail_user)
    pop3_policy_set(account=account, keep=Pop3Keep.DELETE_AFTER_DOWNLOAD)
    with FaultProxy(dovecot.host, dovecot.pop3_port) as proxy:
        proxy.refuse_commands("UIDL")
        account.incoming_port = proxy.port
        assert pop3_fetch(account=account).new == 2
        mail_user.append("INBOX", message("Three, not downloaded"))

        report = pop3_cleanup(account=account)

    assert report.deleted == 2
    assert server_subjects(mail_user) == ["Three, not downloaded"]


def test_a_confirmed_cleanup_goes_ahead_after_a_long_pause_of_the_schedule(
    alice, dovecot, mail_user, monkeypatch
):
    account = fetched(alice, dovecot, mail_user, "One", keep=Pop3Keep.DELETE_AFTER_DOWNLOAD)
    Pop3Policy.objects.filter(account=account).update(
        last_cleanup_at=clock.now() - timedelta(days=10)
    )
    shown = [item.ledger_id for item in pop3_cleanup_plan(account=account).items]

    report = pop3_cleanup(account=account, confirmed=set(shown))

    # The reader saw and confirmed exactly these: a pause of the daily round is no reason
    # to refuse them. (The scheduled run would have refused; see the clock tests.)
    assert (report.deleted, report.refused) == (1, "")
    assert server_subjects(mail_user) == []


def test_a_uidl_the_server_reuses_after_our_deletion_brings_the_new_message(
    alice, dovecot, mail_user
):
    account = fetched(alice, dovecot, mail_user, "Old1", keep=Pop3Keep.DELETE_AFTER_DOWNLOAD)
    old_uidl = Pop3Uidl.objects.get(account=account).uidl
    assert pop3_cleanup(account=account).deleted == 1
    mail_user.append("INBOX", message("New1"))  # the same size as "Old1"
    with Pop3Session(mail_user.pop3_settings()) as session:
        [entry] = session.listing()
        session.quit()
    assert entry.size == Pop3Uidl.objects.get(account=account).size

    with FaultProxy(dovecot.host, dovecot.pop3_port) as proxy:
        # A server that numbers its UIDLs afresh gives the new message the old one's.
        proxy.rewrite_replies(entry.uidl.encode(), old_uidl.encode())
        account.incoming_port = proxy.port
        report = pop3_fetch(account=account)

    assert report.new == 1
    assert local_subjects(account) == ["New1", "Old1"]
    row = Pop3Uidl.objects.get(account=account)
    assert (row.uidl, row.state, row.stored.indexed.subject) == (old_uidl, "stored", "New1")
