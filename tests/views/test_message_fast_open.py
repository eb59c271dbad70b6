"""Opening an indexed message whose body is already rendered (issue 4): the page comes
from the database alone, so it opens with the mail server down; it shows as read at
once, and the server gets its \\Seen from the queued task (run here by the real task
code, as the worker would, from the message it was queued as)."""

import html
import re
from pathlib import Path

import pytest
from kombu import Connection

import webmail.tasks  # noqa: F401  registers the tasks, as the worker's autodiscovery does
from tests.personas import account_for
from webmail.celery import app as celery_app
from webmail.models import IndexedMessage, RenderedBody
from webmail.services.prerender import bodies_prerender
from webmail.services.sync import account_sync

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("redis_locks")]

FIXTURE_MAIL = Path(__file__).parent.parent / "fixtures" / "mail"
ATTACHMENTS = (FIXTURE_MAIL / "05-attachments-umlaut.eml").read_bytes()
SEEN_TASK = "webmail.tasks.message_seen_task"


@pytest.fixture
def indexed(alice, dovecot, mail_user):
    """alice's account with the attachments message in its INBOX, synced, its body
    pre-rendered: (account, page URL, uid)."""
    uid = mail_user.append("INBOX", ATTACHMENTS)
    account = account_for(alice, dovecot, mail_user)
    assert account_sync(account).complete
    assert bodies_prerender(account=account, limit=10).rendered == 1
    url = f"/mail/{account.pk}/{mail_user.uidvalidity('INBOX')}/{uid}/"
    return account, url, uid


@pytest.fixture
def tasks_queued():
    """The tasks the code under test queued on the tests' in-memory broker, as
    (name, args), each taken off the queue."""
    with Connection("memory://") as connection:
        connection.SimpleQueue("celery").clear()

    def take() -> list[tuple[str, list]]:
        taken = []
        with celery_app.connection_for_write() as connection:
            queue = connection.SimpleQueue("celery")
            while True:
                try:
                    message = queue.get(block=False)
                except queue.Empty:
                    break
                taken.append((message.headers["task"], message.decode()[0]))
                message.ack()
            queue.close()
        return taken

    return take


def _server_dies(account) -> None:
    account.incoming_port = 9  # discard: nothing listens here
    account.save(update_fields=["incoming_port"])


def _server_back(account, mail_user) -> None:
    account.incoming_port = mail_user.settings().port
    account.save(update_fields=["incoming_port"])


def _page(client, url) -> str:
    response = client.get(url, {"folder": "INBOX"})
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def _open(client, url, capture) -> str:
    with capture(execute=True):  # the view's transaction commits: tasks are queued
        return _page(client, url)


def _attachments(page: str) -> dict[str, str]:
    return dict(
        (name, size)
        for name, size in re.findall(
            r'<a class="attachment-name" href="[^"]+" download>([^<]*)</a>.*?'
            r'<span class="attachment-size">([^<]*)</span>',
            page,
            re.S,
        )
    )


def test_it_opens_an_indexed_prerendered_message_with_the_server_down(
    alice_client, indexed, django_capture_on_commit_callbacks
):
    account, url, uid = indexed
    _server_dies(account)

    page = _open(alice_client, url, django_capture_on_commit_callbacks)

    assert '<h1 class="message-subject">Anhänge mit Umlauten</h1>' in page
    assert "Anna Schmidt" in page and "Bob Meyer" in page
    assert set(_attachments(page)) == {"Grüße.txt", "Ärger über Straße.pdf"}
    assert all(size.strip() for size in _attachments(page).values())
    assert re.search(r'<iframe class="message-body"[^>]*src="[^"]*/body/', page)


def test_the_page_from_the_database_shows_what_the_servers_page_shows(
    alice_client, indexed, mail_user, django_capture_on_commit_callbacks
):
    account, url, uid = indexed
    RenderedBody.objects.filter(account=account).update(page=None)  # rendered before
    from_server = _open(alice_client, url, django_capture_on_commit_callbacks)
    _server_dies(account)

    from_database = _open(alice_client, url, django_capture_on_commit_callbacks)

    header = re.compile(r'<header class="message-header">.*?</section>', re.S)
    assert header.search(from_database).group() == header.search(from_server).group()


def test_it_shows_as_read_at_once_and_the_server_gets_seen_from_the_task(
    alice_client, indexed, mail_user, tasks_queued, django_capture_on_commit_callbacks
):
    account, url, uid = indexed
    _server_dies(account)

    _open(alice_client, url, django_capture_on_commit_callbacks)

    assert IndexedMessage.objects.get(folder__account=account, uid=uid).seen
    listed = _page(alice_client, f"/mail/{account.pk}/")  # the INBOX holds this one only
    assert "Anhänge mit Umlauten" in listed and "mark-unread" not in listed
    assert "\\Seen" not in mail_user.flags("INBOX", uid)
    queued = tasks_queued()
    assert queued == [(SEEN_TASK, [account.pk, "INBOX", mail_user.uidvalidity("INBOX"), uid])]

    _server_back(account, mail_user)
    name, args = queued[0]
    celery_app.tasks[name].apply(args=args).get()

    assert "\\Seen" in mail_user.flags("INBOX", uid)


def test_a_task_that_cannot_reach_the_server_shows_the_message_unread_again(
    alice_client, indexed, mail_user, tasks_queued, django_capture_on_commit_callbacks
):
    account, url, uid = indexed
    _server_dies(account)
    _open(alice_client, url, django_capture_on_commit_callbacks)
    name, args = tasks_queued()[0]

    celery_app.tasks[name].apply(args=args).get()  # no error: nothing to retry
    _server_back(account, mail_user)
    account_sync(account)  # skips the folder: nothing changed on the server

    assert "\\Seen" not in mail_user.flags("INBOX", uid)
    assert not IndexedMessage.objects.get(folder__account=account, uid=uid).seen
    assert "mark-unread" in _page(alice_client, f"/mail/{account.pk}/")


def test_a_message_without_a_rendering_still_opens_from_the_server(
    alice_client, indexed, mail_user, tasks_queued, django_capture_on_commit_callbacks
):
    account, url, uid = indexed
    RenderedBody.objects.filter(account=account).delete()

    page = _open(alice_client, url, django_capture_on_commit_callbacks)

    assert "Anhänge mit Umlauten" in page
    assert "\\Seen" in mail_user.flags("INBOX", uid)  # stored by the page itself
    assert tasks_queued() == []
