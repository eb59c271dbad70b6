"""Conversations: the thread on the message page and the folder listed by conversation,
read from an index the real sync filled from Dovecot (INBOX and Sent)."""

import html
import re
import secrets

import pytest

from tests.dovecot import new_mail_user
from tests.personas import account_for
from webmail.conversations import conversation_for_message
from webmail.services.sync import account_sync


def _mail(subject, sender, day, mid, *, irt="", refs="") -> bytes:
    headers = [
        f"From: {sender}",
        "To: Anna <anna@example.org>",
        f"Subject: {subject}",
        f"Date: {day:02d} Mar 2026 09:00:00 +0000",
        f"Message-ID: <{mid}>",
    ]
    if irt:
        headers.append(f"In-Reply-To: <{irt}>")
    if refs:
        headers.append("References: " + " ".join(f"<{r}>" for r in refs.split()))
    return ("\r\n".join(headers) + f"\r\n\r\nAbout {subject}.\r\n").encode()


ANNA = "Anna <anna@example.org>"
ME = "Alice <alice@example.org>"


@pytest.fixture(autouse=True)
def redis_locks(settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    settings.REDIS_KEY_PREFIX = f"postfach-test-{secrets.token_hex(6)}:"


@pytest.fixture
def mailbox(alice, dovecot):
    """alice's mailbox: a conversation across INBOX and Sent, a reply that only its
    subject ties to it, and mail that does not belong."""
    user = new_mail_user(dovecot, "threads")
    uids = dict(
        zip(
            ["root", "invoice", "answer", "plain"],
            user.append_many(
                "INBOX",
                [
                    _mail("Sommerfest", ANNA, 2, "root@x"),
                    _mail("Rechnung", ANNA, 3, "invoice@x"),
                    _mail("AW: Re: Sommerfest", ANNA, 5, "answer@x", irt="mine@x",
                          refs="root@x mine@x"),
                    _mail("Re: Sommerfest", "Carl <carl@example.org>", 6, "plain@x"),
                ],
            ),
            strict=True,
        )
    )  # fmt: skip
    (uids["mine"],) = user.append_many(
        "Sent", [(_mail("Re: Sommerfest", ME, 4, "mine@x", irt="root@x", refs="root@x"),
                  ["\\Seen"], None)]
    )  # fmt: skip
    account = account_for(alice, dovecot, user)
    assert account_sync(account).complete
    return account, user, uids


def _open(client, account, user, uid, folder="INBOX"):
    url = f"/mail/{account.pk}/{user.uidvalidity(folder)}/{uid}/"
    response = client.get(url, {"folder": folder})
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def _conversation(page: str) -> list[str]:
    """Each listed message as 'subject [marks]' in the page's order."""
    section = re.search(r'<section class="conversation".*?</section>', page, re.S)
    if section is None:
        return []
    items = re.findall(r'<li class="conversation-item[^"]*">(.*?)</li>', section.group(0), re.S)
    listed = []
    for item in items:
        subject = re.search(r'class="conversation-subject">([^<]*)<', item).group(1)
        marks = re.findall(r'class="mark mark-[a-z]+">([^<]*)<', item)
        listed.append(" ".join([subject, *marks]))
    return listed


def test_it_shows_the_conversation_across_inbox_and_sent_oldest_first(alice_client, mailbox):
    account, user, uids = mailbox
    page = _open(alice_client, account, user, uids["answer"])
    assert "Conversation (4 messages)" in page
    assert _conversation(page) == [
        "Sommerfest",
        "Re: Sommerfest Sent",
        "AW: Re: Sommerfest this message",
        "Re: Sommerfest",  # Carl's reply: no reference headers, only its subject
    ]
    # The sent reply links to itself in Sent; the current one is no link at all.
    sent_url = f"/mail/{account.pk}/{user.uidvalidity('Sent')}/{uids['mine']}/?folder=Sent"
    assert sent_url in page
    assert re.search(r'<span class="conversation-link" aria-current="true">', page)
    assert "Rechnung" not in _conversation(page)


def test_the_oldest_message_finds_its_later_replies(alice_client, mailbox):
    account, user, uids = mailbox
    listed = _conversation(_open(alice_client, account, user, uids["root"]))
    assert listed[0] == "Sommerfest this message" and len(listed) == 4


def test_the_sent_message_shows_the_conversation_from_inbox(alice_client, mailbox):
    account, user, uids = mailbox
    listed = _conversation(_open(alice_client, account, user, uids["mine"], folder="Sent"))
    # Read in Sent, the other side is the INBOX.
    assert listed == [
        "Sommerfest Inbox",
        "Re: Sommerfest this message",
        "AW: Re: Sommerfest Inbox",
        "Re: Sommerfest Inbox",
    ]


def test_a_message_alone_shows_no_conversation(alice_client, mailbox):
    account, user, uids = mailbox
    page = _open(alice_client, account, user, uids["invoice"])
    assert 'class="conversation"' not in page


def test_a_folder_not_indexed_yet_shows_no_conversation(alice_client, mailbox):
    account, user, uids = mailbox
    account.indexed_folders.filter(name="INBOX").update(fully_indexed=False)
    page = _open(alice_client, account, user, uids["answer"])
    assert "AW: Re: Sommerfest" in page
    assert _conversation(page) == []


def test_the_conversation_costs_a_few_queries(mailbox, django_assert_max_num_queries):
    account, user, uids = mailbox
    with django_assert_max_num_queries(8):
        entries = conversation_for_message(
            account=account, folder="INBOX", uidvalidity=user.uidvalidity("INBOX"),
            uid=uids["answer"],
        )  # fmt: skip
    assert len(entries) == 4


def test_bob_never_sees_alices_conversation(bob, bob_client, dovecot, mailbox):
    account, user, uids = mailbox
    # bob's own mailbox answers alice's conversation too; neither sees the other's mail.
    bobs_user = new_mail_user(dovecot, "bobthreads")
    (bob_uid,) = bobs_user.append_many(
        "INBOX", [_mail("Re: Sommerfest", ANNA, 7, "bob@x", irt="root@x", refs="root@x")]
    )
    bobs = account_for(bob, dovecot, bobs_user)
    assert account_sync(bobs).complete
    response = bob_client.get(
        f"/mail/{account.pk}/{user.uidvalidity('INBOX')}/{uids['answer']}/", {"folder": "INBOX"}
    )
    assert response.status_code == 404
    assert _conversation(_open(bob_client, bobs, bobs_user, bob_uid)) == []
    alices = conversation_for_message(
        account=account, folder="INBOX", uidvalidity=user.uidvalidity("INBOX"), uid=uids["root"]
    )
    assert [e.summary.subject for e in alices].count("Re: Sommerfest") == 2  # Carl's and hers


def _rows(page: str) -> list[str]:
    return re.findall(
        r'<span class="row-subject">([^<]*)</span>.*?<span class="row-count">([^<]*)</span>',
        page,
        re.S,
    )


def test_the_folder_lists_one_row_per_conversation_newest_first(alice_client, mailbox):
    account, user, uids = mailbox
    alice_client.get(f"/mail/{account.pk}/{user.uidvalidity('INBOX')}/{uids['root']}/",
                     {"folder": "INBOX"})  # fmt: skip
    page = html.unescape(
        alice_client.get(f"/mail/{account.pk}/", {"folder": "INBOX", "view": "threads"})
        .content.decode()
    )
    # Newest message of the conversation here, the count with the Sent reply, unread
    # in this folder (the root was just read).
    assert _rows(page) == [
        ("Re: Sommerfest", "4 messages, 2 unread"),
        ("Rechnung", "1 message, 1 unread"),
    ]
    assert f"/mail/{account.pk}/{user.uidvalidity('INBOX')}/{uids['plain']}/?folder=INBOX" in page
    assert re.search(r'<a href="[^"]*view=threads" aria-current="page">Conversations</a>', page)


def test_the_message_list_links_to_the_conversations(alice_client, mailbox):
    account, _user, _uids = mailbox
    page = html.unescape(alice_client.get(f"/mail/{account.pk}/").content.decode())
    assert re.search(r'<a href="[^"]*" aria-current="page">Messages</a>', page)
    assert f'href="/mail/{account.pk}/?folder=INBOX&view=threads"' in page
    assert '<span class="row-count">' not in page


def test_conversations_are_paged(alice_client, mailbox, settings):
    account, _user, _uids = mailbox
    settings.MAIL_PAGE_SIZE = 1
    url = f"/mail/{account.pk}/"
    first = html.unescape(alice_client.get(url, {"view": "threads"}).content.decode())
    assert [s for s, _c in _rows(first)] == ["Re: Sommerfest"] and "Page 1 of 2" in first
    second = html.unescape(alice_client.get(url, {"view": "threads", "page": 2}).content.decode())
    assert [s for s, _c in _rows(second)] == ["Rechnung"]
    assert f'rel="prev" href="/mail/{account.pk}/?folder=INBOX&page=1&view=threads"' in second


def test_bob_cannot_list_alices_conversations(bob_client, mailbox):
    account, _user, _uids = mailbox
    assert bob_client.get(f"/mail/{account.pk}/", {"view": "threads"}).status_code == 404


def test_a_message_opened_from_the_conversations_keeps_the_list_by_conversation(
    alice_client, mailbox
):
    account, user, uids = mailbox
    inbox = user.uidvalidity("INBOX")
    page = html.unescape(
        alice_client.get(
            f"/mail/{account.pk}/{inbox}/{uids['plain']}/",
            {"folder": "INBOX", "page": 1, "view": "threads"},
        ).content.decode()
    )
    assert _rows(page)[0] == ("Re: Sommerfest", "4 messages, 2 unread")
    assert re.search(r'<li class="message-row[^"]* selected">\s*<a class="row-link" href="[^"]*'
                     rf'/{uids["plain"]}/\?folder=INBOX&page=1&view=threads"', page)  # fmt: skip
    assert f'class="back-link" href="/mail/{account.pk}/?folder=INBOX&page=1&view=threads"' in page
    root = f"/mail/{account.pk}/{inbox}/{uids['root']}/?folder=INBOX&page=1&view=threads"
    assert f'<a class="conversation-link" href="{root}">' in page


def test_the_first_message_finds_a_reply_of_a_reply_after_much_other_mail(
    alice, alice_client, dovecot
):
    user = new_mail_user(dovecot, "busythreads")
    filler = [
        _mail(f"Newsletter {n}", "News <news@example.org>", 3, f"news{n}@x") for n in range(300)
    ]
    uids = user.append_many(
        "INBOX",
        [
            _mail("Umzug", ANNA, 2, "move@x"),
            *filler,
            _mail("Re: Umzug", ANNA, 9, "move2@x", irt="move@x", refs="move@x"),
            _mail("Re: Re: Umzug", ANNA, 10, "move3@x", irt="move2@x", refs="move2@x"),
        ],
    )
    account = account_for(alice, dovecot, user)
    assert account_sync(account).complete
    listed = _conversation(_open(alice_client, account, user, uids[0]))
    assert listed == ["Umzug this message", "Re: Umzug", "Re: Re: Umzug"]


def test_a_german_reader_sees_it_in_german(alice, alice_client, mailbox):
    account, user, uids = mailbox
    alice.language = "de"
    alice.save()
    page = _open(alice_client, account, user, uids["answer"])
    assert "Unterhaltung (4 Nachrichten)" in page and "diese Nachricht" in page
    assert '<span class="mark mark-place">Gesendet</span>' in page
    listing = html.unescape(
        alice_client.get(f"/mail/{account.pk}/", {"view": "threads"}).content.decode()
    )
    assert ">Unterhaltungen</a>" in listing
    assert ("Re: Sommerfest", "4 Nachrichten, 2 ungelesen") in _rows(listing)


def test_a_folder_not_indexed_yet_is_listed_by_message(alice_client, mailbox):
    account, _user, _uids = mailbox
    account.indexed_folders.filter(name="INBOX").update(fully_indexed=False)
    response = alice_client.get(f"/mail/{account.pk}/", {"view": "threads"})
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert _rows(page) == []  # read from the server, one row per message
    assert re.findall(r'<span class="row-subject">([^<]*)</span>', page) == [
        "Re: Sommerfest", "AW: Re: Sommerfest", "Rechnung", "Sommerfest",
    ]  # fmt: skip
