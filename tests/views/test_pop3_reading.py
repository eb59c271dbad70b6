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


def hidden(page: str) -> dict[str, str]:
    return {
        name: html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page)
        if name != "csrfmiddlewaretoken"
    }


def drafts_and_sent(account) -> list[tuple[str, str]]:
    rows = IndexedMessage.objects.filter(folder__account=account, folder__name__in=["Drafts", "Sent"])
    return sorted(rows.values_list("folder__name", "subject"))


def test_drafts_are_kept_here_and_sending_files_in_the_local_sent_folder(
    alice_client, account, smtp_server
):
    url = f"/mail/{account.pk}/compose/"
    form = alice_client.get(url).content.decode()
    fields = hidden(form)
    fields["identity"] = re.search(r'<option value="(\d+)" selected>', form).group(1)
    fields.update(to="bernd@example.net", subject="Gesendet per POP3", body="Hallo!",
                  mode="text", html="")
    saved = alice_client.post(url, {**fields, "action": "save"})
    assert flashes(saved) == ["Draft saved."]
    fields.update({k: v for k, v in hidden(saved.content.decode()).items() if k.startswith("draft")})
    fields["body"] = "Hallo, Bernd!"
    saved = alice_client.post(url, {**fields, "action": "save"})
    assert drafts_and_sent(account) == [("Drafts", "Gesendet per POP3")]  # replaced

    fields.update({k: v for k, v in hidden(saved.content.decode()).items() if k.startswith("draft")})
    response = alice_client.post(url, {**fields, "action": "send"})
    assert response.status_code == 302
    assert flashes(alice_client.get(f"/mail/{account.pk}/")) == ["Message sent."]
    assert smtp_server.received[-1].rcpt_tos == ["bernd@example.net"]
    assert drafts_and_sent(account) == [("Sent", "Gesendet per POP3")]
    assert row(account, "Gesendet per POP3").seen
    assert "Gesendet per POP3" in text(alice_client.get(f"/mail/{account.pk}/?folder=Sent"))


def test_unread_flag_and_junk_are_local(alice_client, account, mail_user):
    open_message(alice_client, account, "Hallo aus Köln")
    assert flashes(act(alice_client, account, "unread", "Hallo aus Köln")) == [
        "1 message marked as unread."
    ]
    act(alice_client, account, "flag", "Hallo aus Köln")
    found = row(account, "Hallo aus Köln")
    assert (found.seen, found.flagged, found.folder.unseen) == (False, True, 3)

    act(alice_client, account, "junk", "Hallo aus Köln")
    found = row(account, "Hallo aus Köln")
    assert (found.folder.name, found.folder.special_use) == ("Junk", "\\Junk")
    assert len(server_subjects(mail_user)) == 3


def test_folders_are_made_renamed_emptied_and_deleted_here(alice_client, account):
    url = f"/mail/{account.pk}/folders/"
    made = alice_client.post(f"{url}create/", {"name": "Reisen"}, follow=True)
    assert flashes(made) == ["The folder Reisen was created."]
    act(alice_client, account, "move", "Hallo aus Köln", target="Reisen")
    renamed = alice_client.post(f"{url}rename/", {"folder": "Reisen", "name": "Urlaub"},
                                follow=True)
    assert flashes(renamed) == ["The folder Reisen is now called Urlaub."]
    assert row(account, "Hallo aus Köln").folder.name == "Urlaub"

    asked = text(alice_client.get(f"{url}delete/", {"folder": "Urlaub"}))
    assert "It holds 1 message, which will be deleted with it." in asked
    fields = dict(re.findall(r'<input type="hidden" name="(folder|uidvalidity)" value="([^"]*)">',
                             asked))
    deleted = alice_client.post(f"{url}delete/", fields, follow=True)
    assert flashes(deleted) == ["The folder Urlaub was deleted."]
    assert "Urlaub" not in text(alice_client.get(url))

    act(alice_client, account, "delete", "Script and event handlers")
    asked = text(alice_client.get(f"{url}empty/", {"folder": "Trash"}))
    assert "1 message in Trash will be deleted for good." in asked
    fields = {
        name: html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', asked)
        if name != "csrfmiddlewaretoken"
    }
    emptied = alice_client.post(f"{url}empty/", fields, follow=True)
    assert flashes(emptied) == ["1 message deleted for good."]
    assert StoredMessage.objects.filter(account=account, user_deleted_at__isnull=False).count() == 2


def test_search_finds_fetched_mail_by_its_text(alice_client, account, mail_user):
    mail_user.append("INBOX", message("Ohne Text", b""))  # the index holds no text of it
    assert pop3_fetch(account=account).new == 1
    for scope in ("folder", "all"):
        response = alice_client.get(
            "/mail/search/", {"q": "bald", "scope": scope, "account": account.pk, "folder": "INBOX"}
        )
        found = re.findall(r'<span class="row-subject">(.*?)</span>', text(response), re.S)
        assert (response.status_code, found) == (200, ["Hallo aus Köln"]), scope


def test_a_new_pop3_account_shows_its_empty_local_folders(alice, alice_client, dovecot, mail_user):
    account = pop3_account_for(alice, dovecot, mail_user)
    response = alice_client.get(f"/mail/{account.pk}/")
    assert response.status_code == 200
    page = text(response)
    for label in ("Inbox", "Drafts", "Sent", "Archive", "Trash"):
        assert label in page
