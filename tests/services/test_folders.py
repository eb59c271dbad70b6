"""webmail.services.folders against the real Dovecot: the folders the server holds after
each call, and the rules that refuse before anything reaches it."""

import pytest

from tests.dovecot import MailUser, new_mail_user
from tests.personas import account_for
from webmail.protocols.errors import FolderNotFound
from webmail.services.errors import ActionNotAllowed
from webmail.services.folders import (
    folder_create,
    folder_delete,
    folder_delete_preview,
    folder_overview,
    folder_rename,
    folder_subscribe,
)

pytestmark = pytest.mark.django_db


def folder_names(user: MailUser) -> set[str]:
    with user.client() as client:
        return {name for _flags, _delim, name in client.list_folders()}


def subscribed(user: MailUser) -> set[str]:
    with user.client() as client:
        return {name for _flags, _delim, name in client.list_sub_folders()}


@pytest.fixture
def account(alice, dovecot, mail_user):
    return account_for(alice, dovecot, mail_user)


def test_it_creates_a_subscribed_folder(account, mail_user):
    assert folder_create(account=account, name="  Reisen ") == "Reisen"
    assert folder_create(account=account, name="Köln 2026", parent="Reisen") == "Reisen/Köln 2026"
    assert {"Reisen", "Reisen/Köln 2026"} <= folder_names(mail_user)
    assert {"Reisen", "Reisen/Köln 2026"} <= subscribed(mail_user)


@pytest.mark.parametrize(
    ("name", "refusal"),
    [
        ("", "Give the folder a name"),
        ("   ", "Give the folder a name"),
        ("a/b", "cannot contain"),
        ("100%", "cannot contain"),
        ("bad\nname", "cannot contain"),
        ("x" * 201, "at most 200"),
        ("inbox", "exists already"),
        ("Trash", "exists already"),
    ],
)
def test_it_refuses_bad_or_taken_names(account, mail_user, name, refusal):
    before = folder_names(mail_user)
    with pytest.raises(ActionNotAllowed, match=refusal):
        folder_create(account=account, name=name)
    assert folder_names(mail_user) == before


def test_it_renames_a_folder_with_its_subfolders_and_subscriptions(account, mail_user):
    folder_create(account=account, name="Old")
    folder_create(account=account, name="Child", parent="Old")
    mail_user.append("Old/Child", b"Subject: inside\r\n\r\nx\r\n")

    assert folder_rename(account=account, folder="Old", new_name="New") == "New"

    names = folder_names(mail_user)
    assert {"New", "New/Child"} <= names and not {"Old", "Old/Child"} & names
    assert "New" in subscribed(mail_user) and "Old" not in subscribed(mail_user)
    with mail_user.client() as client:
        assert client.folder_status("New/Child", ["MESSAGES"])[b"MESSAGES"] == 1


@pytest.mark.parametrize("folder", ["INBOX", "Trash", "Sent", "Drafts", "Junk", "Archive"])
def test_the_inbox_and_special_folders_can_be_neither_renamed_nor_deleted(
    account, mail_user, folder
):
    with pytest.raises(ActionNotAllowed, match="neither renamed nor deleted"):
        folder_rename(account=account, folder=folder, new_name="Other")
    with pytest.raises(ActionNotAllowed, match="neither renamed nor deleted"):
        folder_delete_preview(account=account, folder=folder)
    with pytest.raises(ActionNotAllowed, match="neither renamed nor deleted"):
        folder_delete(account=account, folder=folder, uidvalidity=mail_user.uidvalidity(folder))
    assert folder in folder_names(mail_user) and "Other" not in folder_names(mail_user)


def test_a_folder_holding_a_special_folder_is_protected_too(alice, dovecot):
    user = new_mail_user(
        dovecot, settings={"namespace/inbox/mailbox/Junk/name": "Filters/Junk"}
    )
    user.create_folder("Filters")
    account = account_for(alice, dovecot, user)
    assert {"Filters", "Filters/Junk"} <= folder_names(user)
    with pytest.raises(ActionNotAllowed, match="holds a folder with a role"):
        folder_rename(account=account, folder="Filters", new_name="Other")
    with pytest.raises(ActionNotAllowed, match="holds a folder with a role"):
        folder_delete_preview(account=account, folder="Filters")
    assert {"Filters", "Filters/Junk"} <= folder_names(user)


def test_deleting_shows_the_count_first_then_deletes_folder_and_mail(account, mail_user):
    folder_create(account=account, name="Old mail")
    mail_user.append_many("Old mail", [b"Subject: 1\r\n\r\nx\r\n", b"Subject: 2\r\n\r\nx\r\n"])

    preview = folder_delete_preview(account=account, folder="Old mail")
    assert preview.messages == 2
    folder_delete(account=account, folder="Old mail", uidvalidity=preview.uidvalidity)

    assert "Old mail" not in folder_names(mail_user)
    assert "Old mail" not in subscribed(mail_user)


def test_a_folder_made_again_since_the_confirmation_is_not_deleted(account, mail_user):
    folder_create(account=account, name="Again")
    preview = folder_delete_preview(account=account, folder="Again")
    with mail_user.client() as other:  # another device deletes it and makes a new one
        other.delete_folder("Again")
        other.create_folder("Again")
        other.append("Again", b"Subject: new\r\n\r\nx\r\n")
    with pytest.raises(ActionNotAllowed, match="nothing was deleted"):
        folder_delete(account=account, folder="Again", uidvalidity=preview.uidvalidity)
    with mail_user.client() as client:
        assert client.folder_status("Again", ["MESSAGES"])[b"MESSAGES"] == 1


def test_a_folder_with_subfolders_is_not_deleted(account, mail_user):
    folder_create(account=account, name="Parent")
    folder_create(account=account, name="Kid", parent="Parent")
    with pytest.raises(ActionNotAllowed, match="holds other folders"):
        folder_delete_preview(account=account, folder="Parent")
    with pytest.raises(ActionNotAllowed, match="holds other folders"):
        folder_delete(
            account=account, folder="Parent", uidvalidity=mail_user.uidvalidity("Parent")
        )
    assert {"Parent", "Parent/Kid"} <= folder_names(mail_user)


def test_it_subscribes_and_unsubscribes(account, mail_user):
    mail_user.create_folder("Quiet")  # made by another device, not subscribed
    assert "Quiet" not in subscribed(mail_user)
    folder_subscribe(account=account, folder="Quiet", subscribed=True)
    assert "Quiet" in subscribed(mail_user)
    folder_subscribe(account=account, folder="Quiet", subscribed=False)
    assert "Quiet" not in subscribed(mail_user)
    with pytest.raises(FolderNotFound):
        folder_subscribe(account=account, folder="Nowhere", subscribed=True)


def test_the_overview_lists_folders_roles_and_subscriptions(account, mail_user):
    mail_user.create_folder("Unsubscribed")
    folder_create(account=account, name="Mine")
    overview = folder_overview(account=account)
    names = {f.name for f in overview.folders}
    assert {"INBOX", "Trash", "Mine", "Unsubscribed"} <= names
    assert overview.roles["Trash"] == "\\Trash" and overview.roles["INBOX"] == "INBOX"
    assert {"INBOX", "Trash", "Sent", "Drafts", "Junk", "Archive"} <= overview.protected
    assert "Mine" not in overview.protected
    assert "Mine" in overview.subscribed and "Unsubscribed" not in overview.subscribed
    assert overview.delimiter == "/"
    assert overview.parents == frozenset()
    folder_create(account=account, name="Inner", parent="Mine")
    assert folder_overview(account=account).parents == {"Mine"}
