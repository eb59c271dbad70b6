"""Reading and organising a POP3 account's mail through the Django test client: fetched
from the real Dovecot POP3 into the local store, then listed, opened, moved, deleted and
answered through the same pages as IMAP mail. Every action is local; the POP3 server
keeps every message."""

import email
import html
import re
from email import policy
from pathlib import Path

import pytest

from tests.personas import pop3_account_for, smtp_use
from tests.pop3_helpers import message, server_subjects
from tests.smtp_server import (  # noqa: F401  (fixtures)
    make_smtp_server_fixture,
    smtp_certificates_fixture,
    smtp_server_fixture,
)
from webmail.models import IndexedMessage, StoredMessage
from webmail.services.pop3_fetch import pop3_fetch

pytestmark = pytest.mark.django_db

FIXTURE_MAIL = Path(__file__).parent.parent / "fixtures" / "mail"


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path


@pytest.fixture
def account(alice, dovecot, mail_user, smtp_server):
    mail_user.append("INBOX", message("Hallo aus Köln", b"Bis bald.\r\n"))
    for name in ("05-attachments-umlaut.eml", "20-xss-script-onerror.eml"):
        mail_user.append("INBOX", (FIXTURE_MAIL / name).read_bytes())
    account = smtp_use(pop3_account_for(alice, dovecot, mail_user), smtp_server)
    assert pop3_fetch(account=account).new == 3
    return account


def text(response) -> str:
    return html.unescape(response.content.decode())


def flashes(response) -> list[str]:
    found = re.findall(r'<li class="flash-\w+">(.*?)</li>', response.content.decode(), re.S)
    return [html.unescape(item) for item in found]


def row(account, subject: str) -> IndexedMessage:
    return IndexedMessage.objects.select_related("folder").get(
        folder__account=account, subject=subject
    )


def open_message(client, account, subject: str, suffix: str = ""):
    found = row(account, subject)
    url = f"/mail/{account.pk}/{found.folder.uidvalidity}/{found.uid}/{suffix}"
    return client.get(url, {"folder": found.folder.name})


def act(client, account, action: str, subject: str, **extra):
    found = row(account, subject)
    data = {
        "action": action, "folder": found.folder.name, "uidvalidity": found.folder.uidvalidity,
        "uid": [found.uid], "page": 1, **extra,
    }  # fmt: skip
    return client.post(f"/mail/{account.pk}/messages/", data, follow=True)


def test_it_lists_fetched_mail_and_opens_it_marking_it_read_here(alice_client, account):
    listing = text(alice_client.get(f"/mail/{account.pk}/"))
    assert "Hallo aus Köln" in listing and "Script and event handlers" in listing

    page = text(open_message(alice_client, account, "Anhänge mit Umlauten"))
    assert '<h1 class="message-subject">Anhänge mit Umlauten' in page
    assert re.search(r'class="meta-from">[^<]*Anna Schmidt', page)
    assert row(account, "Anhänge mit Umlauten").seen
    assert not row(account, "Hallo aus Köln").seen

    body = text(open_message(alice_client, account, "Hallo aus Köln", "body/"))
    assert "Bis bald." in body


def test_html_is_sanitized_as_for_imap(alice_client, account):
    response = open_message(alice_client, account, "Script and event handlers", "body/")
    body = response.content.decode().lower()
    assert response.status_code == 200
    assert "This message tries to run script in many ways." in response.content.decode()
    assert "<script" not in body and "onerror" not in body and "javascript:" not in body


def test_attachments_download_with_the_stored_bytes(alice_client, account):
    page = text(open_message(alice_client, account, "Anhänge mit Umlauten"))
    links = dict(
        (name, href)
        for href, name in re.findall(
            r'<a class="attachment-name" href="([^"]+)" download>([^<]*)</a>', page
        )
    )
    original = email.message_from_bytes(
        (FIXTURE_MAIL / "05-attachments-umlaut.eml").read_bytes(), policy=policy.default
    )
    expected = {
        part.get_filename(): part.get_payload(decode=True) for part in original.iter_attachments()
    }
    assert set(links) == set(expected)
    for name, href in links.items():
        assert alice_client.get(href).content == expected[name]


def test_archive_then_delete_to_trash_then_for_good_leaves_the_server_copy(
    alice_client, account, mail_user
):
    archived = act(alice_client, account, "archive", "Hallo aus Köln")
    assert flashes(archived) == ["1 message moved to Archive."]
    assert row(account, "Hallo aus Köln").folder.name == "Archive"
    assert "Hallo aus Köln" in text(alice_client.get(f"/mail/{account.pk}/?folder=Archive"))

    deleted = act(alice_client, account, "delete", "Hallo aus Köln")
    assert flashes(deleted) == ["1 message moved to Trash."]
    assert row(account, "Hallo aus Köln").folder.name == "Trash"

    asked = act(alice_client, account, "delete", "Hallo aus Köln")
    assert "<h1>Delete for good?</h1>" in text(asked)
    gone = act(alice_client, account, "delete", "Hallo aus Köln", confirmed="1")
    assert flashes(gone) == ["1 message deleted for good."]
    assert not IndexedMessage.objects.filter(folder__account=account, subject="Hallo aus Köln")
    stamped = StoredMessage.objects.get(account=account, user_deleted_at__isnull=False)
    assert stamped.indexed is None
    assert "Hallo aus Köln" in server_subjects(mail_user)  # the cleanup decides, not this


def test_sending_files_the_message_in_the_local_sent_folder(
    alice_client, account, smtp_server
):
    form = alice_client.get(f"/mail/{account.pk}/compose/").content.decode()
    fields = {
        name: html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form)
        if name != "csrfmiddlewaretoken"
    }
    fields["identity"] = re.search(r'<option value="(\d+)" selected>', form).group(1)
    fields.update(to="bernd@example.net", subject="Gesendet per POP3", body="Hallo!",
                  mode="text", html="", action="send")
    response = alice_client.post(f"/mail/{account.pk}/compose/", fields)
    assert response.status_code == 302
    assert flashes(alice_client.get(f"/mail/{account.pk}/")) == ["Message sent."]
    assert smtp_server.received[-1].rcpt_tos == ["bernd@example.net"]
    sent = row(account, "Gesendet per POP3")
    assert (sent.folder.name, sent.seen) == ("Sent", True)
    assert "Gesendet per POP3" in text(alice_client.get(f"/mail/{account.pk}/?folder=Sent"))
