"""benchmarks/mailgen.py: generated mail written as Maildir files is what Dovecot serves
and what the real sync puts into the index, so the benchmarks measure realistic mail."""

import secrets

import pytest

from benchmarks.mailgen import mailbox_generate, messages
from tests.dovecot import new_mail_user
from tests.personas import account_for
from webmail.models import IndexedFolder, IndexedMessage
from webmail.services.search import SearchQuery, mail_search
from webmail.services.sync import account_sync

SEED = 7
FOLDERS = {"INBOX": 50, "Behörden": 10}


@pytest.fixture(autouse=True)
def redis_locks(settings):
    """Sync locks in the real Redis under keys of this run only."""
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    settings.REDIS_KEY_PREFIX = f"postfach-test-{secrets.token_hex(6)}:"


@pytest.fixture
def generated():
    """What mailbox_generate puts into each folder: the folder at position k holds
    messages(SEED + k, n)."""
    return {folder: list(messages(SEED + k, n)) for k, (folder, n) in enumerate(FOLDERS.items())}


@pytest.fixture
def account(alice, dovecot):
    user = new_mail_user(dovecot, "gen")
    assert mailbox_generate(dovecot, user, folders=FOLDERS, seed=SEED) == FOLDERS
    account = account_for(alice, dovecot, user)
    assert account_sync(account).complete
    return account


def row(account, message) -> IndexedMessage:
    return IndexedMessage.objects.get(folder__account=account, message_id=message.message_id)


def test_it_is_the_same_mail_for_the_same_seed():
    assert [m.raw for m in messages(3, 20)] == [m.raw for m in messages(3, 20)]
    assert [m.raw for m in messages(3, 20)] != [m.raw for m in messages(4, 20)]


def test_it_syncs_every_message_with_its_flags_and_date(account, generated):
    for name, sent in generated.items():
        folder = IndexedFolder.objects.get(account=account, name=name)
        assert folder.fully_indexed and folder.messages == len(sent)
        assert folder.unseen == sum("\\Seen" not in m.flags for m in sent)
        indexed = IndexedMessage.objects.filter(folder=folder).order_by("uid")
        # UIDs follow the dates, as on a server that received the mail over the years
        assert [r.message_id for r in indexed] == [m.message_id for m in sent]
        assert [r.date for r in indexed] == [m.date for m in sent]
        assert [r.subject for r in indexed] == [m.subject for m in sent]


def test_it_threads_replies_by_their_references(account, generated):
    replies = [m for m in generated["INBOX"] if m.kind == "reply"]
    assert replies
    for reply in replies:
        indexed = row(account, reply)
        assert indexed.subject.startswith(("AW: ", "Re: "))
        assert indexed.in_reply_to == reply.references[-1]
        assert indexed.references.split() == list(reply.references)
        parent = IndexedMessage.objects.get(folder=indexed.folder, message_id=reply.references[-1])
        assert parent.date < indexed.date
        assert indexed.subject.endswith(parent.subject.removeprefix("AW: ").removeprefix("Re: "))


def test_it_marks_mail_with_attachments(account, generated):
    inbox = generated["INBOX"]
    assert any(m.kind == "attachment" for m in inbox)
    for message in inbox:
        assert row(account, message).has_attachments == (message.kind == "attachment")


def test_it_shows_html_newsletters_by_their_text(account, generated):
    newsletters = [m for m in generated["INBOX"] if m.kind == "newsletter"]
    assert newsletters
    for message in newsletters:
        indexed = row(account, message)
        assert indexed.subject.startswith("Newsletter ")
        assert indexed.size > 20_000  # the HTML part
        assert indexed.preview and indexed.preview.split()[0] in message.text


def test_it_finds_a_german_word(alice, account, generated):
    wanted = next(m for m in generated["Behörden"] if "Öffnungszeiten" in m.text)
    page = mail_search(
        alice, SearchQuery(text="öffnungszeiten", account=account, folder="Behörden")
    )
    found = {hit.summary.subject for hit in page.hits}
    assert wanted.subject in found
    holding = {m.subject for m in generated["Behörden"] if "Öffnungszeiten" in m.subject + m.text}
    assert found <= holding
