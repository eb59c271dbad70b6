"""The POP3 Celery tasks chained as the worker runs them: a fetch that brought mail has
its bodies pre-rendered from the local store, and under "delete after download" queues
the cleanup that deletes the server copies in a session of its own."""

import pytest

from tests.personas import pop3_account_for
from tests.pop3_helpers import message, server_subjects
from webmail import tasks
from webmail.models import Pop3Keep, RenderedBody, ServerDeletion
from webmail.services.pop3_policy import pop3_policy_set


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path


@pytest.fixture
def queued(monkeypatch):
    """Tasks queued with .delay(), by name, in order, instead of sent to a broker."""
    calls: list[tuple[str, tuple]] = []
    for name in ("bodies_prerender_task", "pop3_cleanup_task"):
        task = getattr(tasks, name)
        monkeypatch.setattr(task, "delay", lambda *args, _n=name: calls.append((_n, args)))
    return calls


def test_a_fetch_with_new_mail_queues_the_prerender_and_under_delete_after_download_the_cleanup(
    alice, dovecot, mail_user, queued, settings
):
    settings.PRERENDER_RECENT = 10
    mail_user.append("INBOX", message("Hallo", b"<p>Guten Tag</p>\r\n"))
    account = pop3_account_for(alice, dovecot, mail_user)
    pop3_policy_set(account=account, keep=Pop3Keep.DELETE_AFTER_DOWNLOAD)

    tasks.pop3_fetch_task(account.pk)

    assert queued == [
        ("bodies_prerender_task", (account.pk,)),
        ("pop3_cleanup_task", (account.pk,)),
    ]
    assert server_subjects(mail_user) == ["Hallo"]  # the fetch itself deletes nothing
    tasks.bodies_prerender_task(account.pk)
    tasks.pop3_cleanup_task(account.pk)
    assert RenderedBody.objects.filter(account=account).count() == 1
    assert server_subjects(mail_user) == []
    assert ServerDeletion.objects.get(account=account).outcome == "deleted"


def test_a_fetch_under_keep_days_leaves_the_cleanup_to_the_daily_round(
    alice, dovecot, mail_user, queued
):
    mail_user.append("INBOX", message("Hallo"))
    account = pop3_account_for(alice, dovecot, mail_user)
    pop3_policy_set(account=account, keep=Pop3Keep.KEEP_DAYS, keep_days=14)

    tasks.pop3_fetch_task(account.pk)
    assert [name for name, _args in queued if name == "pop3_cleanup_task"] == []

    tasks.pop3_cleanups_daily()

    assert ("pop3_cleanup_task", (account.pk,)) in queued


def test_a_fetch_that_brought_nothing_queues_nothing(alice, dovecot, mail_user, queued):
    account = pop3_account_for(alice, dovecot, mail_user)
    pop3_policy_set(account=account, keep=Pop3Keep.DELETE_AFTER_DOWNLOAD)

    tasks.pop3_fetch_task(account.pk)

    assert queued == []
