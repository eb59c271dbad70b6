"""bodies_prerender against the real Dovecot: what the worker makes ready after a sync,
what it leaves alone on the server, and how the stored renderings are bounded."""

import secrets
from datetime import timedelta
from pathlib import Path

import pytest

from tests.personas import account_for
from webmail import clock, sanitize
from webmail.models import RenderedBody
from webmail.services.prerender import bodies_prerender
from webmail.services.sync import account_sync

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("redis_locks")]

FIXTURE_MAIL = Path(__file__).parent.parent / "fixtures" / "mail"


def _mail(n: int) -> bytes:
    return (
        f"From: Anna <anna@example.org>\r\nTo: Bob <bob@example.org>\r\nSubject: Mail {n}\r\n"
        f"Message-ID: <{secrets.token_hex(6)}@example.org>\r\n\r\nText of mail {n}.\r\n"
    ).encode()


@pytest.fixture
def account(alice, dovecot, mail_user):
    return account_for(alice, dovecot, mail_user)


def _rendered(account) -> dict[int, str]:
    """UID -> stored HTML of the body as first shown, for the account's INBOX."""
    return dict(
        RenderedBody.objects.filter(account=account, part="", remote_images=False).values_list(
            "message__uid", "html"
        )
    )


def test_it_renders_the_newest_inbox_messages_without_marking_them_read(account, mail_user):
    uids = mail_user.append_many("INBOX", [_mail(n) for n in range(5)])
    assert account_sync(account).complete

    report = bodies_prerender(account=account, limit=3)

    assert report.rendered == 3
    rendered = _rendered(account)
    assert sorted(rendered) == uids[-3:]
    assert "Text of mail 4." in rendered[uids[-1]]
    for uid in uids:
        assert "\\Seen" not in mail_user.flags("INBOX", uid)


def test_it_does_not_render_a_message_twice(account, mail_user):
    mail_user.append_many("INBOX", [_mail(n) for n in range(3)])
    assert account_sync(account).complete
    assert bodies_prerender(account=account, limit=10).rendered == 3

    assert bodies_prerender(account=account, limit=10).rendered == 0
    assert RenderedBody.objects.filter(account=account).count() == 3


def test_it_leaves_messages_over_the_parse_limit_to_the_reader(account, mail_user, settings):
    small = mail_user.append("INBOX", _mail(1))
    mail_user.append("INBOX", _mail(2) + b"x" * 5000 + b"\r\n")
    assert account_sync(account).complete
    settings.MAIL_MAX_PARSE_BYTES = 1000

    report = bodies_prerender(account=account, limit=10)

    assert (report.rendered, report.skipped_large) == (1, 1)
    assert list(_rendered(account)) == [small]


def test_a_sanitizer_version_bump_renders_again(account, mail_user, monkeypatch):
    [uid] = mail_user.append_many("INBOX", [_mail(1)])
    assert account_sync(account).complete
    bodies_prerender(account=account, limit=10)
    monkeypatch.setattr(sanitize, "SANITIZER_VERSION", sanitize.SANITIZER_VERSION + 1)

    assert bodies_prerender(account=account, limit=10).rendered == 1

    versions = RenderedBody.objects.filter(account=account).values_list(
        "sanitizer_version", flat=True
    )
    assert list(versions) == [sanitize.SANITIZER_VERSION]  # the old one is gone
    assert "Text of mail 1." in _rendered(account)[uid]


def test_an_expunged_message_loses_its_rendering(account, mail_user):
    uids = mail_user.append_many("INBOX", [_mail(1), _mail(2)])
    assert account_sync(account).complete
    bodies_prerender(account=account, limit=10)
    with mail_user.client() as client:
        client.select_folder("INBOX")
        client.delete_messages([uids[0]])
        client.expunge()

    assert account_sync(account).complete

    assert list(_rendered(account)) == [uids[1]]


def test_it_keeps_at_most_the_accounts_cap_newest_mail_first(account, mail_user, settings):
    uids = mail_user.append_many("INBOX", [_mail(n) for n in range(5)])
    assert account_sync(account).complete
    settings.PRERENDER_KEEP = 0  # the run's own limit is then the cap
    bodies_prerender(account=account, limit=5)

    report = bodies_prerender(account=account, limit=2)

    assert report.deleted == 3
    assert sorted(_rendered(account)) == uids[-2:]


def test_it_trims_the_renderings_made_longest_ago_first(account, mail_user, settings):
    uids = mail_user.append_many("INBOX", [_mail(n) for n in range(3)])
    assert account_sync(account).complete
    bodies_prerender(account=account, limit=3)
    RenderedBody.objects.filter(message__uid=uids[1]).update(
        created_at=clock.now() - timedelta(days=1)
    )
    settings.PRERENDER_KEEP = 2

    bodies_prerender(account=account, limit=0)

    assert sorted(_rendered(account)) == [uids[0], uids[2]]


def test_a_rendering_with_expired_image_links_is_made_again(account, mail_user, monkeypatch):
    uid = mail_user.append("INBOX", (FIXTURE_MAIL / "04-inline-cid-image.eml").read_bytes())
    assert account_sync(account).complete
    bodies_prerender(account=account, limit=10)
    first = RenderedBody.objects.get(account=account)
    assert first.expires_at is not None and "/mail/inline/" in first.html
    later = first.expires_at + timedelta(minutes=1)
    monkeypatch.setattr(clock, "now", lambda: later)

    assert bodies_prerender(account=account, limit=10).rendered == 1

    again = RenderedBody.objects.get(account=account)
    assert again.message.uid == uid and again.expires_at > later


def test_a_dead_server_stops_the_run_without_an_error(account, mail_user):
    mail_user.append_many("INBOX", [_mail(1)])
    assert account_sync(account).complete
    account.incoming_port = 9  # discard: nothing listens here

    report = bodies_prerender(account=account, limit=10)

    assert report.rendered == 0 and report.error_code
    assert not RenderedBody.objects.exists()
