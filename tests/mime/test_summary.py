"""index_entry_from_raw gives a POP3 message the same index fields the IMAP sync gives the
same message from Dovecot's FETCH answers: lists, search and threads treat both alike."""

from pathlib import Path

from webmail.mime.summary import index_entry_from_raw
from webmail.models import IndexedMessage
from webmail.services.index import addresses_text
from webmail.services.sync import TEXT_BYTES, account_sync

FIXTURES = Path(__file__).parent.parent / "fixtures" / "mail"
# Where reading the whole message sees more than the sync's first 2 KB of one part.
PREVIEW_DIFFERS = {"28-missing-boundary-parameter.eml", "36-invalid-base64.eml"}


def test_it_reads_every_fixture_as_the_imap_sync_indexes_it(alice_account):
    account_sync(alice_account)
    synced = IndexedMessage.objects.filter(folder__account=alice_account, folder__name="INBOX")
    compared = 0
    for path in sorted(FIXTURES.glob("*.eml")):
        raw = path.read_bytes()
        entry = index_entry_from_raw(
            raw, uid=1, size=len(raw), received=None, complete=True, text_limit=TEXT_BYTES
        )
        summary = entry.summary
        [row] = synced.filter(message_id=entry.message_id, subject=summary.subject)
        sender = summary.sender
        mine = {
            "from_name": sender.name if sender else "",
            "from_addr": sender.addr if sender else "",
            "to": addresses_text(summary.recipients),
            "cc": addresses_text(entry.cc),
            "in_reply_to": entry.in_reply_to,
            "references": " ".join(entry.references),
            "has_attachments": summary.has_attachments,
            "date": summary.date or row.internal_date,  # both fall back to the arrival
        }
        if path.name not in PREVIEW_DIFFERS:
            mine["preview"] = entry.text[:200]
        assert mine == {name: getattr(row, name) for name in mine}, path.name
        compared += 1
    assert compared == len(list(FIXTURES.glob("*.eml")))


def test_a_message_read_only_from_its_beginning_keeps_its_headers_and_text():
    raw = (
        b"From: =?utf-8?q?J=C3=BCrgen?= <j@example.org>\r\nTo: a@example.org\r\n"
        b"Subject: Big\r\nIn-Reply-To: <parent@example.org>\r\n"
        b"References: <root@example.org> <parent@example.org>\r\n"
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nDer Anhang folgt.\r\n--b\r\n"
        b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0"
    )

    entry = index_entry_from_raw(
        raw, uid=7, size=10_000_000, received=None, complete=False, text_limit=TEXT_BYTES
    )

    assert entry.summary.sender.name == "Jürgen"
    assert (entry.summary.uid, entry.summary.size, entry.summary.has_attachments) == (
        7, 10_000_000, True
    )  # fmt: skip
    assert (entry.in_reply_to, entry.references) == (
        "parent@example.org", ("root@example.org", "parent@example.org")
    )  # fmt: skip
    assert entry.text == "Der Anhang folgt."
