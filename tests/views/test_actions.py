"""Acting on messages through the Django test client, against the real Dovecot: what the
reader sees after each POST (the flash, the page it lands on) and what the server holds."""

import html
import re
import socket

import pytest
from django.test import Client

from tests.dovecot import MailUser
from tests.personas import account_for

pytestmark = pytest.mark.django_db


def _mail(subject: str) -> bytes:
    return f"From: a@example.org\r\nSubject: {subject}\r\n\r\nbody\r\n".encode()


def subjects(user: MailUser, folder: str) -> list[str]:
    with user.client() as client:
        client.select_folder(folder, readonly=True)
        found = client.fetch(client.search("ALL"), ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    return sorted(
        data[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().split(":", 1)[1].strip()
        for data in found.values()
    )


def text(response) -> str:
    return html.unescape(response.content.decode())


def flashes(response) -> list[str]:
    found = re.findall(r'<li class="flash-\w+">(.*?)</li>', response.content.decode(), re.S)
    return [html.unescape(item) for item in found]


def hidden_fields(page: str) -> dict[str, list[str]]:
    """The hidden inputs of a confirmation page, as the browser would post them."""
    fields: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page):
        if name != "csrfmiddlewaretoken":
            fields.setdefault(name, []).append(html.unescape(value))
    return fields


@pytest.fixture
def account(alice, dovecot, mail_user):
    return account_for(alice, dovecot, mail_user)


@pytest.fixture
def inbox(mail_user) -> list[int]:
    return mail_user.append_many("INBOX", [_mail("one"), _mail("two"), _mail("three")])


@pytest.fixture
def post(alice_client, account, mail_user):
    """POSTs an action on a selection as the list page would, with the folder's current
    UIDVALIDITY unless given."""

    def send(action, uids, folder="INBOX", client=None, follow=False, **extra):
        data = {
            "action": action,
            "folder": folder,
            "uidvalidity": mail_user.uidvalidity(folder),
            "uid": uids,
            "page": 1,
            **extra,
        }
        return (client or alice_client).post(
            f"/mail/{account.pk}/messages/", data, follow=follow
        )

    return send


# -- the pages offer the actions ------------------------------------------------------------


def test_the_list_is_a_form_with_a_labelled_box_per_message(alice_client, account, inbox):
    page = text(alice_client.get(f"/mail/{account.pk}/"))
    assert re.search(r'<form method="post" action="/mail/\d+/messages/" id="list-actions"', page)
    assert 'name="csrfmiddlewaretoken"' in page
    for uid, subject in zip(inbox, ["one", "two", "three"], strict=True):
        assert (
            f'<label class="row-select"><input type="checkbox" name="uid" value="{uid}">'
            f'<span class="visually-hidden">Select “{subject}”</span></label>'
        ) in page
    for label in ("Mark as read", "Mark as unread", "Flag", "Unflag", "Archive",
                  "Report as junk", "Delete", "Move"):
        assert f">{label}</button>" in page
    assert '<label for="list-target" class="visually-hidden">Folder to move to</label>' in page
    assert '<script src="/static/js/select.js" defer></script>' in page


def test_select_all_works_without_script(alice_client, account, inbox):
    page = text(alice_client.get(f"/mail/{account.pk}/", {"select": "all"}))
    assert page.count('<input type="checkbox" name="uid" value=') == 3
    assert page.count('" checked><span class="visually-hidden">Select') == 3
    assert ">Select none</a>" in page


def test_the_message_page_has_the_actions_for_that_message(alice_client, account, mail_user, inbox):
    validity = mail_user.uidvalidity("INBOX")
    page = text(
        alice_client.get(f"/mail/{account.pk}/{validity}/{inbox[1]}/", {"folder": "INBOX"})
    )
    form = re.search(r'<form [^>]*class="message-form">(.*?)</form>', page, re.S).group(1)
    assert f'name="uid" value="{inbox[1]}"' in form
    assert f'name="next" value="{inbox[0]}"' in form  # the next older message
    assert ">Mark as unread</button>" in form and ">Flag</button>" in form
    assert ">Mark as read</button>" not in form


# -- what the server holds and what the reader is told ------------------------------------


def test_it_marks_the_selection_read_and_unread(post, account, mail_user, inbox):
    response = post("read", inbox[:2], follow=True)
    assert response.redirect_chain == [(f"/mail/{account.pk}/?folder=INBOX", 302)]
    assert flashes(response) == ["2 messages marked as read."]
    assert [("\\Seen" in mail_user.flags("INBOX", uid)) for uid in inbox] == [True, True, False]

    page = post("unread", inbox[:1], follow=True)
    assert flashes(page) == ["1 message marked as unread."]
    assert mail_user.flags("INBOX", inbox[0]) == frozenset()


def test_it_flags_and_unflags(post, mail_user, inbox):
    assert flashes(post("flag", inbox, follow=True)) == ["3 messages flagged."]
    assert all(mail_user.flags("INBOX", uid) == {"\\Flagged"} for uid in inbox)
    assert flashes(post("unflag", inbox[1:], follow=True)) == ["2 messages unflagged."]
    assert mail_user.flags("INBOX", inbox[2]) == frozenset()
    assert mail_user.flags("INBOX", inbox[0]) == {"\\Flagged"}


def test_delete_moves_the_selection_to_the_trash(post, mail_user, inbox):
    page = post("delete", inbox[:2], follow=True)
    assert flashes(page) == ["2 messages moved to Trash."]
    assert "<h1>Inbox</h1>" in text(page)
    assert subjects(mail_user, "Trash") == ["one", "two"]
    assert subjects(mail_user, "INBOX") == ["three"]


def test_move_archive_and_junk(post, mail_user, inbox):
    mail_user.create_folder("Projects")
    page = post("move", inbox[:1], target="Projects", follow=True)
    assert flashes(page) == ["1 message moved to Projects."]
    assert flashes(post("archive", inbox[1:2], follow=True)) == ["1 message moved to Archive."]
    assert flashes(post("junk", inbox[2:], follow=True)) == ["1 message moved to Junk."]
    assert subjects(mail_user, "Projects") == ["one"]
    assert subjects(mail_user, "Archive") == ["two"]
    assert subjects(mail_user, "Junk") == ["three"]
    assert subjects(mail_user, "INBOX") == []


def test_from_the_message_page_a_deleted_message_leads_to_the_next(
    post, account, mail_user, inbox
):
    validity = mail_user.uidvalidity("INBOX")
    response = post("delete", [inbox[1]], shown=inbox[1], next=inbox[0], follow=True)
    assert response.redirect_chain[-1][0] == (
        f"/mail/{account.pk}/{validity}/{inbox[0]}/?folder=INBOX&page=1"
    )
    assert flashes(response) == ["1 message moved to Trash."]
    assert '<h1 class="message-subject">one</h1>' in text(response)
    assert subjects(mail_user, "Trash") == ["two"]


def test_from_the_message_page_flag_returns_and_unread_goes_to_the_list(
    post, account, mail_user, inbox
):
    validity = mail_user.uidvalidity("INBOX")
    response = post("flag", [inbox[0]], shown=inbox[0], follow=True)
    assert response.redirect_chain[-1][0] == (
        f"/mail/{account.pk}/{validity}/{inbox[0]}/?folder=INBOX&page=1"
    )
    assert flashes(response) == ["1 message flagged."]
    assert ">Unflag</button>" in text(response)
    assert "\\Flagged" in mail_user.flags("INBOX", inbox[0])

    response = post("unread", [inbox[0]], shown=inbox[0], follow=True)
    assert response.redirect_chain[-1][0] == f"/mail/{account.pk}/?folder=INBOX"
    assert flashes(response) == ["1 message marked as unread."]
    assert "\\Seen" not in mail_user.flags("INBOX", inbox[0])  # not opened (and read) again


def test_deleting_in_the_trash_asks_first(alice_client, post, account, mail_user):
    trash = mail_user.append_many("Trash", [_mail("old"), _mail("older"), _mail("stays")])

    asked = post("delete", trash[:2], folder="Trash")

    assert asked.status_code == 200
    page = text(asked)
    assert "<h1>Delete for good?</h1>" in page
    assert "2 messages will be deleted for good. This cannot be undone." in page
    assert subjects(mail_user, "Trash") == ["old", "older", "stays"]  # nothing yet
    fields = hidden_fields(page)
    assert fields["confirmed"] == ["1"] and fields["uid"] == [str(uid) for uid in trash[:2]]

    done = alice_client.post(f"/mail/{account.pk}/messages/", fields, follow=True)
    assert flashes(done) == ["2 messages deleted for good."]
    assert subjects(mail_user, "Trash") == ["stays"]


def test_empty_trash_says_how_many_then_empties(alice_client, account, mail_user):
    mail_user.append_many("Trash", [_mail("a"), _mail("b"), _mail("c")])
    trash_page = text(alice_client.get(f"/mail/{account.pk}/", {"folder": "Trash"}))
    assert f'href="/mail/{account.pk}/folders/empty/?folder=Trash">Empty Trash</a>' in trash_page

    asked = alice_client.get(f"/mail/{account.pk}/folders/empty/", {"folder": "Trash"})
    page = text(asked)
    assert "<h1>Empty Trash?</h1>" in page
    assert "3 messages in Trash will be deleted for good. This cannot be undone." in page
    assert subjects(mail_user, "Trash") == ["a", "b", "c"]  # a GET changes nothing

    done = alice_client.post(
        f"/mail/{account.pk}/folders/empty/", hidden_fields(page), follow=True
    )
    assert flashes(done) == ["3 messages deleted for good."]
    assert subjects(mail_user, "Trash") == []


def test_empty_junk_and_nothing_else(alice_client, account, mail_user, inbox):
    mail_user.append("Junk", _mail("spam"))
    page = text(alice_client.get(f"/mail/{account.pk}/folders/empty/", {"folder": "Junk"}))
    assert "1 message in Junk will be deleted for good." in page

    refused = alice_client.get(
        f"/mail/{account.pk}/folders/empty/", {"folder": "INBOX"}, follow=True
    )
    assert flashes(refused) == ["Only the Trash and the Junk folder can be emptied."]
    assert subjects(mail_user, "INBOX") == ["one", "three", "two"]


# -- what must not happen ---------------------------------------------------------------


def test_a_get_changes_nothing(alice_client, account, mail_user, inbox):
    query = {"action": "delete", "folder": "INBOX", "uid": inbox,
             "uidvalidity": mail_user.uidvalidity("INBOX")}
    assert alice_client.get(f"/mail/{account.pk}/messages/", query).status_code == 405
    assert subjects(mail_user, "INBOX") == ["one", "three", "two"]
    assert subjects(mail_user, "Trash") == []


def test_csrf_is_enforced(alice, account, mail_user, inbox):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    data = {"action": "delete", "folder": "INBOX", "uid": inbox[:1],
            "uidvalidity": mail_user.uidvalidity("INBOX")}

    forged = browser.post(f"/mail/{account.pk}/messages/", data)
    assert forged.status_code == 403
    assert subjects(mail_user, "Trash") == []

    page = browser.get(f"/mail/{account.pk}/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    sent = browser.post(f"/mail/{account.pk}/messages/", {**data, "csrfmiddlewaretoken": token})
    assert sent.status_code == 302
    assert subjects(mail_user, "Trash") == ["one"]


def test_bob_cannot_act_on_alices_account(bob, post, account, mail_user, inbox):
    bobs = Client()  # not the shared `client`, which alice_client has signed in as alice
    bobs.force_login(bob)
    response = post("delete", inbox, client=bobs)
    assert response.status_code == 404
    empty = bobs.get(f"/mail/{account.pk}/folders/empty/", {"folder": "Trash"})
    assert empty.status_code == 404
    assert subjects(mail_user, "INBOX") == ["one", "three", "two"]


def test_a_stale_uidvalidity_is_explained_and_nothing_moves(post, mail_user, inbox):
    stale = mail_user.uidvalidity("INBOX") + 1
    page = post("delete", inbox, uidvalidity=stale, follow=True)
    assert flashes(page) == [
        "This folder changed on the mail server since the page was shown, so nothing was "
        "done. Look at the folder again and repeat what you wanted to do."
    ]
    assert subjects(mail_user, "INBOX") == ["one", "three", "two"]
    assert subjects(mail_user, "Trash") == []


def test_messages_gone_meanwhile_are_explained(post, mail_user, inbox):
    with mail_user.client() as other:
        other.select_folder("INBOX")
        other.move(inbox[:1], "Archive")
    page = post("flag", inbox[:1], follow=True)
    assert flashes(page)[0].startswith("The selected message is no longer in this folder")
    assert mail_user.flags("Archive", 1) == frozenset()


def test_an_empty_selection_is_explained(post, mail_user, inbox):
    page = post("archive", [], follow=True)
    assert flashes(page) == ["Select at least one message first."]
    assert subjects(mail_user, "Archive") == []


@pytest.mark.parametrize(
    "bad",
    [{"uid": ["x"]}, {"uid": ["0"]}, {"action": "expunge_everything"}, {"uidvalidity": "-1"},
     {"folder": "IN\r\nBOX"}, {"action": "move", "target": ""}],
)
def test_forged_requests_are_refused(alice_client, account, mail_user, inbox, bad):
    data = {"action": "delete", "folder": "INBOX", "uid": inbox,
            "uidvalidity": mail_user.uidvalidity("INBOX"), **bad}
    response = alice_client.post(f"/mail/{account.pk}/messages/", data)
    assert response.status_code == 400
    assert subjects(mail_user, "INBOX") == ["one", "three", "two"]


def test_a_server_that_is_down_gives_the_error_page(alice_client, account, inbox):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        account.incoming_port = sock.getsockname()[1]
    account.save()
    response = alice_client.post(
        f"/mail/{account.pk}/messages/",
        {"action": "delete", "folder": "INBOX", "uidvalidity": 1, "uid": inbox},
    )
    assert response.status_code == 502
    assert "The mail server refused the connection." in text(response)
