"""The folders page (/mail/<account>/folders/) through the Django test client, against the
real Dovecot: what the reader sees, and which folders the server holds afterwards."""

import html
import re

import pytest
from django.test import Client

from tests.dovecot import MailUser
from tests.personas import account_for

pytestmark = pytest.mark.django_db


def folder_names(user: MailUser) -> set[str]:
    with user.client() as client:
        return {name for _flags, _delim, name in client.list_folders()}


def subscribed(user: MailUser) -> set[str]:
    with user.client() as client:
        return {name for _flags, _delim, name in client.list_sub_folders()}


def text(response) -> str:
    return html.unescape(response.content.decode())


def flashes(response) -> list[str]:
    found = re.findall(r'<li class="flash-\w+">(.*?)</li>', response.content.decode(), re.S)
    return [html.unescape(item) for item in found]


def row(page: str, folder: str) -> str:
    return re.search(rf'<tr class="folder-row" data-folder="{re.escape(folder)}">(.*?)</tr>',
                     page, re.S).group(1)


@pytest.fixture
def account(alice, dovecot, mail_user):
    return account_for(alice, dovecot, mail_user)


@pytest.fixture
def url(account):
    return lambda suffix="": f"/mail/{account.pk}/folders/{suffix}"


def test_the_page_lists_folders_with_counts_and_offers_only_allowed_actions(
    alice_client, url, mail_user
):
    mail_user.create_folder("Receipts")
    mail_user.append_many("Receipts", [b"Subject: 1\r\n\r\nx\r\n", b"Subject: 2\r\n\r\nx\r\n"])

    page = text(alice_client.get(url()))

    assert "<h1>Folders</h1>" in page
    receipts = row(page, "Receipts")
    assert "<td>2</td>" in receipts
    assert f'href="{url("delete/")}?folder=Receipts">Delete' in receipts
    assert "<summary>Rename" in receipts
    assert 'aria-label="Subscribe to Receipts"' in receipts  # made by another device
    for protected in ("INBOX", "Trash", "Sent", "Drafts", "Junk", "Archive"):
        cells = row(page, protected)
        assert "Kept by the mail server" in cells
        assert "Delete" not in cells and "Rename" not in cells
    assert '<label for="folder-create-name">Name</label>' in page


def test_the_sidebar_links_to_the_folders_page(alice_client, account, url):
    page = text(alice_client.get(f"/mail/{account.pk}/"))
    assert f'<a href="{url()}">Manage folders</a>' in page


def test_it_creates_a_folder_inside_another(alice_client, url, mail_user):
    mail_user.create_folder("Travel")
    page = alice_client.post(url("create/"), {"name": "Köln", "parent": "Travel"}, follow=True)
    assert flashes(page) == ["The folder Travel/Köln was created."]
    assert "Travel/Köln" in folder_names(mail_user)
    assert "Travel/Köln" in subscribed(mail_user)


def test_a_bad_name_is_explained(alice_client, url, mail_user):
    before = folder_names(mail_user)
    page = alice_client.post(url("create/"), {"name": "a/b"}, follow=True)
    assert flashes(page) == ["A folder name cannot contain * % / or control characters."]
    page = alice_client.post(url("create/"), {"name": "Trash"}, follow=True)
    assert flashes(page) == ["A folder with this name exists already."]
    assert folder_names(mail_user) == before


def test_it_renames_a_folder(alice_client, url, mail_user):
    mail_user.create_folder("Old")
    page = alice_client.post(url("rename/"), {"folder": "Old", "name": "New"}, follow=True)
    assert flashes(page) == ["The folder Old is now called New."]
    assert "New" in folder_names(mail_user) and "Old" not in folder_names(mail_user)


def test_deleting_asks_with_the_message_count_then_deletes(alice_client, url, mail_user):
    mail_user.create_folder("Old mail")
    mail_user.append_many("Old mail", [b"Subject: 1\r\n\r\nx\r\n", b"Subject: 2\r\n\r\nx\r\n"])

    asked = alice_client.get(url("delete/"), {"folder": "Old mail"})
    page = text(asked)
    assert "<h1>Delete the folder Old mail?</h1>" in page
    assert "It holds 2 messages, which will be deleted with it." in page
    assert "Old mail" in folder_names(mail_user)  # the GET changed nothing

    fields = dict(re.findall(r'<input type="hidden" name="(folder|uidvalidity)" value="([^"]*)">',
                             page))
    done = alice_client.post(url("delete/"), fields, follow=True)
    assert flashes(done) == ["The folder Old mail was deleted."]
    assert "Old mail" not in folder_names(mail_user)


@pytest.mark.parametrize("folder", ["INBOX", "Trash"])
def test_the_service_refuses_a_posted_rename_or_delete_of_a_protected_folder(
    alice_client, url, mail_user, folder
):
    validity = mail_user.uidvalidity(folder)
    page = alice_client.post(url("delete/"), {"folder": folder, "uidvalidity": validity},
                             follow=True)
    assert "neither renamed nor deleted" in flashes(page)[0]
    page = alice_client.post(url("rename/"), {"folder": folder, "name": "Gone"}, follow=True)
    assert "neither renamed nor deleted" in flashes(page)[0]
    assert folder in folder_names(mail_user) and "Gone" not in folder_names(mail_user)


def test_it_subscribes_and_unsubscribes(alice_client, url, mail_user):
    mail_user.create_folder("Lists")
    page = alice_client.post(url("subscribe/"), {"folder": "Lists", "subscribed": "1"},
                             follow=True)
    assert flashes(page) == ["You subscribed to Lists."]
    assert "Lists" in subscribed(mail_user)
    assert 'aria-label="Unsubscribe from Lists"' in row(text(page), "Lists")

    page = alice_client.post(url("subscribe/"), {"folder": "Lists"}, follow=True)
    assert flashes(page) == ["You unsubscribed from Lists."]
    assert "Lists" not in subscribed(mail_user)


def test_gets_change_nothing_and_posts_need_csrf(alice, url, mail_user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    assert browser.get(url("create/"), {"name": "Sneaky"}).status_code == 405
    assert browser.post(url("create/"), {"name": "Sneaky"}).status_code == 403
    assert "Sneaky" not in folder_names(mail_user)


def test_bob_cannot_see_or_change_alices_folders(bob, url, mail_user):
    bobs = Client()
    bobs.force_login(bob)
    mail_user.create_folder("Private")
    assert bobs.get(url()).status_code == 404
    assert bobs.post(url("rename/"), {"folder": "Private", "name": "Mine"}).status_code == 404
    assert bobs.get(url("delete/"), {"folder": "Private"}).status_code == 404
    assert "Private" in folder_names(mail_user)


def test_a_folder_holding_folders_offers_rename_but_not_delete(alice_client, url, mail_user):
    mail_user.create_folder("Years")
    mail_user.create_folder("Years/2025")
    page = text(alice_client.get(url()))
    assert "<summary>Rename" in row(page, "Years") and "Delete" not in row(page, "Years")
    assert "Delete" in row(page, "Years/2025")
    assert "<small class=\"help\">Years/2025</small>" in row(page, "Years/2025")


def test_an_empty_folder_is_called_empty_on_the_confirmation(alice_client, url, mail_user):
    mail_user.create_folder("Nothing")
    page = text(alice_client.get(url("delete/"), {"folder": "Nothing"}))
    assert "It holds no messages." in page
