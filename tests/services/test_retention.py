"""webmail.services.retention against the real Dovecot (quota plugin): rules on folders
with messages of many dates (APPEND internal dates) and sizes; what the server holds
afterwards, seen by another connection."""

from dataclasses import replace
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.dovecot import new_mail_user
from tests.personas import account_for
from tests.services.test_organise import subjects  # what another device sees in a folder
from webmail import clock, tasks
from webmail.models import IndexedMessage, RetentionLogEntry, RetentionRule, RetentionSettings
from webmail.services import retention
from webmail.services.errors import ActionNotAllowed
from webmail.services.retention import (
    MB,
    retention_defaults_offer,
    retention_plan,
    retention_quota_status,
    retention_rule_save,
    retention_run,
    rule_text,
)
from webmail.services.sync import account_sync

pytestmark = pytest.mark.django_db


def _mail(subject: str, size: int = 0) -> bytes:
    head = f"From: a@example.org\r\nSubject: {subject}\r\nMessage-ID: <{subject}@example.org>\r\n"
    body = b"x" * 76 + b"\r\n"
    return head.encode() + b"\r\n" + body * (size // len(body) + 1)


def _aged(subject: str, days: int, size: int = 0, flags=()):
    return (_mail(subject, size), flags, clock.now() - timedelta(days=days))


@pytest.fixture
def account(alice, dovecot, mail_user):
    return account_for(alice, dovecot, mail_user)


@pytest.fixture
def trash(mail_user) -> list[int]:
    """Trash: mail deleted 3, 29, 31 and 400 days ago."""
    return mail_user.append_many(
        "Trash",
        [_aged("fresh", 3), _aged("almost", 29), _aged("old", 31), _aged("ancient", 400)],
    )


def _rule(account, **values) -> RetentionRule:
    values.setdefault("action", RetentionRule.Action.DELETE)
    values.setdefault("enabled", True)
    values.setdefault("previewed_at", clock.now())
    return RetentionRule.objects.create(account=account, **values)


def test_it_says_rules_in_plain_words(account):
    assert rule_text(RetentionRule(folder="Trash", older_than_days=30, action="delete")) == (
        "In Trash, delete messages older than 30 days"
    )
    move = RetentionRule(
        folder="", larger_than_mb=10, older_than_days=365, action="move", target_folder="Archive"
    )
    assert rule_text(move) == (
        "Anywhere, move messages larger than 10 MB and older than 365 days to Archive"
    )


def test_it_offers_trash_and_junk_defaults_unsaved_and_off(account):
    offered = retention_defaults_offer(account=account)
    assert [(r.folder, r.older_than_days, r.action, r.enabled) for r in offered] == [
        ("Trash", 30, "delete", False),
        ("Junk", 14, "delete", False),
    ]
    assert not RetentionRule.objects.exists()
    _rule(account, folder="Trash", older_than_days=60)
    assert [r.folder for r in retention_defaults_offer(account=account)] == ["Junk"]


def test_the_preview_lists_what_would_go_and_deletes_nothing(account, mail_user, trash):
    rule = _rule(account, folder="Trash", older_than_days=30, previewed_at=None, enabled=False)
    plan = retention_plan(account=account)
    (rule_plan,) = plan.rules
    assert [m.subject for m in rule_plan.messages] == ["old", "ancient"]
    assert all(m.sender == "a@example.org" and m.folder == "Trash" for m in rule_plan.messages)
    assert plan.octets == sum(m.size for m in rule_plan.messages) > 0
    assert subjects(mail_user, "Trash") == ["almost", "ancient", "fresh", "old"]
    rule.refresh_from_db()
    assert rule.previewed_at is not None
    assert not RetentionLogEntry.objects.exists()


def test_it_deletes_exactly_the_old_mail_and_leaves_other_clients_deletions(
    account, mail_user, trash
):
    other = mail_user.append("Trash", _mail("marked by another client"), ["\\Deleted"],
                             clock.now() - timedelta(days=90))  # fmt: skip
    rule = _rule(account, folder="Trash", older_than_days=30)

    report = retention_run(account=account)

    assert report.ok and report.deleted == 2 and report.octets > 0
    assert subjects(mail_user, "Trash") == ["almost", "fresh", "marked by another client"]
    assert "\\Deleted" in mail_user.flags("Trash", other)
    log = RetentionLogEntry.objects.order_by("uid")
    assert [(e.subject, e.folder, e.action, e.outcome) for e in log] == [
        ("old", "Trash", "delete", "done"),
        ("ancient", "Trash", "delete", "done"),
    ]
    assert {e.message_id for e in log} == {"old@example.org", "ancient@example.org"}
    assert all(e.uidvalidity == mail_user.uidvalidity("Trash") for e in log)
    rule.refresh_from_db()
    assert rule.last_run_at is not None and rule.last_error == ""


def test_the_schedule_runs_only_enabled_previewed_rules(account, mail_user, trash):
    _rule(account, folder="Trash", older_than_days=30, previewed_at=None)
    _rule(account, folder="Trash", older_than_days=1, enabled=False)

    report = retention_run(account=account)

    assert report.deleted == 0
    assert len(subjects(mail_user, "Trash")) == 4


def test_a_confirmed_rule_runs_without_being_enabled(account, mail_user, trash):
    rule = _rule(account, folder="Trash", older_than_days=30, previewed_at=None, enabled=False)
    assert retention_run(account=account, confirmed=[rule.pk]).deleted == 2
    assert subjects(mail_user, "Trash") == ["almost", "fresh"]


def test_a_move_rule_moves_exactly_the_matching_messages(account, mail_user):
    mail_user.create_folder("Newsletters")
    mail_user.append_many("Newsletters", [_aged("may", 200), _aged("june", 100), _aged("july", 60)])
    mail_user.append_many("INBOX", [_aged("inbox old", 200)])
    _rule(account, folder="Newsletters", older_than_days=90, action="move",
          target_folder="Archive")  # fmt: skip

    report = retention_run(account=account)

    assert report.moved == 2 and report.ok
    assert subjects(mail_user, "Newsletters") == ["july"]
    assert subjects(mail_user, "Archive") == ["june", "may"]
    assert subjects(mail_user, "INBOX") == ["inbox old"]
    assert set(RetentionLogEntry.objects.values_list("target_folder", "outcome")) == {
        ("Archive", "done")
    }


def test_an_anywhere_rule_needs_both_size_and_age_and_skips_the_trash(account, mail_user):
    mail_user.create_folder("Projects")
    mail_user.append_many(
        "INBOX",
        [_aged("big old", 400, 2 * MB), _aged("big new", 10, 2 * MB), _aged("small old", 400)],
    )
    mail_user.append_many("Projects", [_aged("big old project", 500, 2 * MB)])
    mail_user.append_many("Trash", [_aged("big old trash", 400, 2 * MB)])
    _rule(account, folder="", larger_than_mb=1, older_than_days=365)

    plan = retention_plan(account=account)
    assert sorted(m.subject for m in plan.rules[0].messages) == ["big old", "big old project"]
    assert retention_run(account=account).deleted == 2

    assert subjects(mail_user, "INBOX") == ["big new", "small old"]
    assert subjects(mail_user, "Projects") == []
    assert subjects(mail_user, "Trash") == ["big old trash"]


def test_a_rule_on_a_missing_folder_reports_it(account, mail_user):
    rule = _rule(account, folder="Gone", older_than_days=1)
    report = retention_run(account=account)
    assert not report.ok
    rule.refresh_from_db()
    assert "Gone" in rule.last_error


def test_the_quota_warning_names_the_largest_folders_and_messages(alice, dovecot):
    user = new_mail_user(dovecot, quota="100K")
    account = account_for(alice, dovecot, user)
    user.fill(95, messages=5)
    user.append("Trash", _mail("small in trash"))
    _rule(account, folder="Trash", older_than_days=1)  # frees nothing: the mail is new

    status = retention_quota_status(account=account)

    assert status.above and status.still_above and status.threshold_percent == 90
    assert status.rules_free == 0
    assert [f.name for f in status.largest_folders] == ["INBOX", "Trash"]
    assert status.largest_messages[0].folder == "INBOX"
    assert status.largest_messages[0].subject.startswith("Filler")
    assert len(status.largest_messages) == 6


def test_no_warning_below_the_threshold(alice, dovecot):
    user = new_mail_user(dovecot, quota="100K")
    account = account_for(alice, dovecot, user)
    user.fill(50)
    RetentionSettings.objects.create(account=account, quota_threshold_percent=40)
    assert retention_quota_status(account=account).above
    RetentionSettings.objects.filter(account=account).update(quota_threshold_percent=60)
    status = retention_quota_status(account=account)
    assert not status.above and status.largest_folders == []


def test_the_command_previews_then_runs_the_rules(account, mail_user, trash, capsys):
    _rule(account, folder="Trash", older_than_days=30, previewed_at=None)

    call_command("mailaccount", "retention", account.email, "--dry-run")
    out = capsys.readouterr().out
    assert "In Trash, delete messages older than 30 days (on)" in out
    assert "ancient" in out and "fresh" not in out
    assert "2 message(s) would be moved or deleted" in out
    assert len(subjects(mail_user, "Trash")) == 4

    call_command("mailaccount", "retention", str(account.pk))
    assert "2 deleted" in capsys.readouterr().out
    assert subjects(mail_user, "Trash") == ["almost", "fresh"]


def test_the_command_fails_when_a_rule_cannot_run(account):
    _rule(account, folder="Gone", older_than_days=1)
    with pytest.raises(CommandError, match="Gone"):
        call_command("mailaccount", "retention", account.email)


def test_the_daily_round_queues_accounts_with_a_rule_on(account, bob, dovecot, monkeypatch):
    other = account_for(bob, dovecot, new_mail_user(dovecot))
    _rule(other, folder="Trash", older_than_days=30, enabled=False)
    _rule(account, folder="Trash", older_than_days=30)
    _rule(account, folder="Junk", older_than_days=14)
    queued = []
    monkeypatch.setattr(tasks.retention_run_task, "delay", lambda *args: queued.append(args))

    tasks.retention_runs_daily()
    assert queued == [(account.pk,)]

    bob.is_active = False
    bob.save()
    _rule(other, folder="Junk", older_than_days=14)
    tasks.retention_runs_daily()
    assert queued == [(account.pk,), (account.pk,)]


def test_the_task_runs_the_confirmed_rules(account, mail_user, trash):
    rule = _rule(account, folder="Trash", older_than_days=30, previewed_at=None, enabled=False)
    tasks.retention_run_task(account.pk, [rule.pk])
    assert subjects(mail_user, "Trash") == ["almost", "fresh"]


def test_a_changed_rule_waits_for_a_new_preview(account):
    rule = _rule(account, folder="Trash", older_than_days=30)
    same = {"folder": "Trash", "older_than_days": 30, "action": "delete"}
    assert retention_rule_save(account=account, rule=rule, enabled=False, **same).previewed_at
    changed = {**same, "older_than_days": 7}
    assert (
        retention_rule_save(account=account, rule=rule, enabled=True, **changed).previewed_at
        is None
    )
    with pytest.raises(ActionNotAllowed):
        retention_rule_save(account=account, enabled=True, folder="Trash", action="move",
                            older_than_days=3, target_folder="Trash")  # fmt: skip


def test_the_local_index_follows_at_once(account, mail_user, trash):
    mail_user.create_folder("Newsletters")
    mail_user.append_many("Newsletters", [_aged("may", 200), _aged("july", 10)])
    assert account_sync(account).complete
    _rule(account, folder="Trash", older_than_days=30)
    _rule(account, folder="Newsletters", older_than_days=90, action="move",
          target_folder="Archive")  # fmt: skip

    assert retention_run(account=account).ok

    def indexed(folder):
        rows = IndexedMessage.objects.filter(folder__account=account, folder__name=folder)
        return sorted(rows.values_list("subject", flat=True))

    assert indexed("Trash") == ["almost", "fresh"]
    assert indexed("Newsletters") == ["july"]
    assert indexed("Archive") == ["may"]


def test_a_folder_whose_uidvalidity_changed_is_left_alone(account, mail_user, trash, monkeypatch):
    """The UIDs came from another UIDVALIDITY (the folder was made again meanwhile): they
    may name other messages now, so nothing is touched and the audit rows say failed."""
    real_plan = retention._rule_plan

    def stale_plan(store, rule):
        plan = real_plan(store, rule)
        plan.messages = [replace(m, uidvalidity=m.uidvalidity + 1) for m in plan.messages]
        return plan

    monkeypatch.setattr(retention, "_rule_plan", stale_plan)
    rule = _rule(account, folder="Trash", older_than_days=30)

    report = retention_run(account=account)

    assert not report.ok and report.deleted == 0 and report.failed == 2
    assert subjects(mail_user, "Trash") == ["almost", "ancient", "fresh", "old"]
    assert set(RetentionLogEntry.objects.values_list("outcome", flat=True)) == {"failed"}
    rule.refresh_from_db()
    assert "changed on the server" in rule.last_error
