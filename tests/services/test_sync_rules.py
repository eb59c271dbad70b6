"""The sync rules of mail-sync.md beyond keeping step: two-phase deletes (tombstones),
UIDVALIDITY generations, full flag scans without CONDSTORE and write-through of moves
with COPYUID, against the real Dovecot (another device is a second IMAP client or
doveadm) and the real Redis for the sync lock."""

from datetime import timedelta

import pytest

from tests.personas import account_for
from tests.services.test_sync import (
    assert_index_equals_server,
    index_uids,
    mail,
    rows,
    server_state,
)
from webmail import clock
from webmail.models import IndexedFolder, RenderedBody, VanishedMessage
from webmail.protocols.imap import ImapStore
from webmail.sanitize import SanitizedHtml
from webmail.selectors import sync_status
from webmail.services import sync
from webmail.services.bodies import body_cached, body_keep
from webmail.services.organise import messages_move
from webmail.services.sync import account_sync

PLAIN = {"CONDSTORE", "QRESYNC", "ESEARCH", "LIST-STATUS"}  # a server without RFC 7162


pytestmark = pytest.mark.usefixtures("redis_locks")  # the sync lock in the real Redis (conftest)


@pytest.fixture
def account(alice, dovecot, mail_user):
    return account_for(alice, dovecot, mail_user)


@pytest.fixture
def bodies_fetched(monkeypatch) -> list[int]:
    """The UIDs whose body text the sync fetched (ImapStore._texts), in order."""
    fetched: list[int] = []
    real = ImapStore._texts

    def counting(self, found, text_bytes):
        fetched.extend(found)
        return real(self, found, text_bytes)

    monkeypatch.setattr(ImapStore, "_texts", counting)
    return fetched


def hide(monkeypatch, capabilities: set[str]) -> None:
    real_has = ImapStore._has
    monkeypatch.setattr(ImapStore, "_has", lambda self, cap: cap not in capabilities and real_has(self, cap))


def expunge_elsewhere(mail_user, uids: list[int]) -> None:
    with mail_user.client() as other:
        other.select_folder("INBOX")
        other.add_flags(uids, ["\\Deleted"])
        other.uid_expunge(uids)


def uidvalidity_raise(dovecot, mail_user, folder: str, by: int) -> int:
    """What a restored or rebuilt server does to a folder: a new UIDVALIDITY."""
    new = mail_user.uidvalidity(folder) + by
    dovecot.doveadm("mailbox", "update", "-u", mail_user.name, "--uid-validity", str(new), folder)
    return new


def folder(account, name="INBOX") -> IndexedFolder:
    return IndexedFolder.objects.get(account=account, name=name)


# -- two-phase deletes ---------------------------------------------------------------------


def test_it_relinks_mail_another_client_moved_without_fetching_its_body(account, mail_user, bodies_fetched):
    mail_user.create_folder("Projects")
    uids = mail_user.append_many("INBOX", [mail(n, body=f"Quarterly figures {n}.") for n in range(1, 4)])
    account_sync(account)
    with mail_user.client() as other:
        other.select_folder("INBOX")
        other.move([uids[0]], "Projects")
    (moved_uid,) = server_state(mail_user, "Projects")
    bodies_fetched.clear()

    report = account_sync(account)

    assert (report.new, report.vanished, report.carried) == (1, 1, 1)
    assert bodies_fetched == []  # the header fetch only
    moved = rows(account, "Projects").get(uid=moved_uid)
    assert (moved.search_text, moved.preview) == ("Quarterly figures 1.", "Quarterly figures 1.")
    assert "quarterly" in moved.search_document
    assert index_uids(account) == uids[1:]
    assert not VanishedMessage.objects.filter(account=account).exists()  # consumed


def test_mail_moved_or_copied_elsewhere_into_a_folder_synced_earlier_keeps_its_text(account, mail_user, bodies_fetched):
    """INBOX is synced first: a message moved from Projects into it is fetched before
    Projects' sync leaves a tombstone, so its text comes from Projects' row; a copy's
    from the original's."""
    mail_user.create_folder("Projects")
    uids = mail_user.append_many("Projects", [mail(n, body=f"Plan {n}") for n in range(1, 3)])
    account_sync(account)
    with mail_user.client() as other:
        other.select_folder("Projects")
        other.move([uids[0]], "INBOX")
        other.copy([uids[1]], "INBOX")
    bodies_fetched.clear()

    report = account_sync(account)

    assert (report.new, report.carried, report.vanished) == (2, 2, 1)
    assert bodies_fetched == []
    assert sorted(rows(account).values_list("search_text", flat=True)) == ["Plan 1", "Plan 2"]
    assert list(rows(account, "Projects").values_list("search_text", flat=True)) == ["Plan 2"]


def test_tombstones_of_mail_deleted_elsewhere_are_purged_after_the_next_cycle(account, mail_user):
    uids = mail_user.append_many("INBOX", [mail(n) for n in range(1, 4)])
    account_sync(account)
    expunge_elsewhere(mail_user, [uids[1]])

    account_sync(account)

    assert index_uids(account) == [uids[0], uids[2]]  # hidden at once
    (tomb,) = VanishedMessage.objects.filter(account=account)
    assert (tomb.folder_name, tomb.uid, tomb.message_id) == ("INBOX", uids[1], "msg-2@example.org")
    assert tomb.search_text == "Body of message 2."

    assert account_sync(account).complete

    assert not VanishedMessage.objects.filter(account=account).exists()


def test_a_sync_stopped_by_its_budget_keeps_the_tombstones(account, mail_user):
    uids = mail_user.append_many("INBOX", [mail(n) for n in range(1, 3)])
    account_sync(account)
    expunge_elsewhere(mail_user, [uids[0]])
    account_sync(account)
    mail_user.append_many("INBOX", [mail(n) for n in range(3, 6)])

    stopped = account_sync(account, batch=1, budget_seconds=0)

    assert not stopped.complete
    assert VanishedMessage.objects.filter(account=account).count() == 1


# -- UIDVALIDITY generations ---------------------------------------------------------------


def test_a_changed_uidvalidity_bumps_the_generation_and_carries_local_data(account, mail_user, dovecot, bodies_fetched):
    uids = mail_user.append_many("INBOX", [mail(n) for n in range(1, 4)])
    account_sync(account)
    # Text only this index holds: had the rebuild fetched the body again, it would be gone.
    rows(account).filter(uid=uids[0]).update(search_text="kept locally", preview="kept")
    new = uidvalidity_raise(dovecot, mail_user, "INBOX", 7)
    bodies_fetched.clear()

    report = account_sync(account)

    assert (report.folders_rebuilt, report.new, report.carried) == (1, 3, 3)
    assert bodies_fetched == []
    inbox = folder(account)
    assert (inbox.generation, inbox.uidvalidity, inbox.fully_indexed) == (1, new, True)
    first = rows(account).get(message_id="msg-1@example.org")
    assert (first.search_text, first.preview) == ("kept locally", "kept")
    assert rows(account).get(message_id="msg-2@example.org").search_text == "Body of message 2."
    assert not VanishedMessage.objects.filter(account=account).exists()
    assert_index_equals_server(account, mail_user)
    assert sync_status(account=account).warning == ""


def test_a_folder_renamed_elsewhere_under_a_new_uidvalidity_keeps_its_text(account, mail_user, dovecot, bodies_fetched):
    mail_user.create_folder("Clubs")
    mail_user.append_many("Clubs", [mail(n, body=f"Training {n}") for n in range(1, 3)])
    account_sync(account)
    with mail_user.client() as other:
        other.rename_folder("Clubs", "Vereine")
    uidvalidity_raise(dovecot, mail_user, "Vereine", 5)
    bodies_fetched.clear()

    report = account_sync(account)

    assert (report.folders_deleted, report.folders_created, report.carried) == (1, 1, 2)
    assert bodies_fetched == []
    assert sorted(rows(account, "Vereine").values_list("search_text", flat=True)) == ["Training 1", "Training 2"]


def test_a_folder_whose_uidvalidity_keeps_changing_is_warned_about(account, mail_user, dovecot):
    mail_user.append("INBOX", mail(1))
    account_sync(account)
    for _ in range(sync.UIDVALIDITY_ALERT + 1):
        uidvalidity_raise(dovecot, mail_user, "INBOX", 1)
        assert account_sync(account).complete

    inbox = folder(account)
    assert (inbox.generation, inbox.uidvalidity_changes) == (sync.UIDVALIDITY_ALERT + 1,) * 2
    warning = sync_status(account=account).warning
    assert "keeps resetting the folder “INBOX”" in warning and "4 times" in warning


def test_the_warning_ends_a_day_after_the_changes_stopped(account, mail_user, dovecot, monkeypatch):
    mail_user.append("INBOX", mail(1))
    account_sync(account)
    IndexedFolder.objects.filter(account=account, name="INBOX").update(
        uidvalidity_changes=sync.UIDVALIDITY_ALERT + 1, uidvalidity_changes_since=clock.now()
    )
    assert sync_status(account=account).warning
    later = clock.now() + timedelta(days=1, minutes=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert sync_status(account=account).warning == ""


# -- full flag scans without CONDSTORE -----------------------------------------------------


def test_without_condstore_a_full_flag_scan_sees_old_flags_changed_elsewhere(account, mail_user, monkeypatch, settings):
    hide(monkeypatch, PLAIN)
    monkeypatch.setattr(sync, "RECENT_FLAGS", 2)  # only the two newest are read every time
    monkeypatch.setattr(sync, "CHANGES_WINDOW", 2)
    settings.SYNC_FULL_FLAGS_HOURS = 6
    uids = mail_user.append_many("INBOX", [mail(n) for n in range(1, 7)])
    account_sync(account)
    with mail_user.client() as other:
        other.select_folder("INBOX")
        other.add_flags([uids[0]], ["\\Flagged"])

    account_sync(account)
    assert not rows(account).get(uid=uids[0]).flagged  # old mail: not read every sync

    later = clock.now() + timedelta(hours=6, minutes=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    report = account_sync(account)

    assert report.changed == 1
    assert rows(account).get(uid=uids[0]).flagged
    assert_index_equals_server(account, mail_user)
    inbox = folder(account)
    assert (inbox.flags_scanned_at, inbox.flags_scan_from) == (later, 0)


def test_a_full_flag_scan_resumes_where_its_time_budget_stopped_it(account, mail_user, monkeypatch):
    hide(monkeypatch, PLAIN)
    monkeypatch.setattr(sync, "RECENT_FLAGS", 1)
    monkeypatch.setattr(sync, "CHANGES_WINDOW", 2)
    uids = mail_user.append_many("INBOX", [mail(n) for n in range(1, 7)])
    account_sync(account)
    with mail_user.client() as other:
        other.select_folder("INBOX")
        other.add_flags([uids[0], uids[3]], ["\\Seen"])
    later = clock.now() + timedelta(days=1)
    monkeypatch.setattr(clock, "now", lambda: later)

    stopped = account_sync(account, budget_seconds=0)  # one window of two UIDs

    assert not stopped.complete
    assert [rows(account).get(uid=uid).seen for uid in (uids[0], uids[3])] == [True, False]
    assert folder(account).flags_scan_from == uids[2]

    assert account_sync(account).complete

    assert rows(account).get(uid=uids[3]).seen
    assert folder(account).flags_scan_from == 0
    assert_index_equals_server(account, mail_user)


# -- moves made here: write-through with COPYUID -------------------------------------------


@pytest.mark.parametrize("without", [set(), {"MOVE"}], ids=["move", "copy-expunge"])
def test_a_move_here_shows_in_the_target_index_at_once_with_its_new_uids(account, mail_user, monkeypatch, without):
    hide(monkeypatch, without)
    mail_user.create_folder("Projects")
    mail_user.append("Projects", mail(9))
    uids = mail_user.append_many("INBOX", [mail(n, body=f"Invoice {n}") for n in range(1, 5)])
    account_sync(account)
    before = folder(account, "Projects")

    done = messages_move(
        account=account, folder="INBOX", uidvalidity=mail_user.uidvalidity("INBOX"),
        uids=[uids[0], uids[2]], target="Projects",
    )  # fmt: skip

    assert done.count == 2
    server = server_state(mail_user, "Projects")
    assert index_uids(account, "Projects") == sorted(server)  # the server's new UIDs
    assert index_uids(account) == [uids[1], uids[3]]
    target = folder(account, "Projects")
    assert (target.fully_indexed, target.uidnext, target.messages) == (True, before.uidnext, 3)
    assert sorted(rows(account, "Projects").values_list("search_text", flat=True)) == [
        "Body of message 9.", "Invoice 1", "Invoice 3"
    ]

    report = account_sync(account)

    assert report.new == 0  # neither fetched again nor duplicated
    assert rows(account, "Projects").count() == 3
    assert_index_equals_server(account, mail_user, "Projects")
    assert_index_equals_server(account, mail_user, "INBOX")
    assert folder(account, "Projects").uidnext == max(server) + 1


def test_a_move_to_a_folder_not_indexed_yet_leaves_it_to_the_sync(account, mail_user):
    uids = mail_user.append_many("INBOX", [mail(n) for n in range(1, 3)])
    account_sync(account)
    mail_user.create_folder("Later")  # made elsewhere, after the last sync

    messages_move(
        account=account, folder="INBOX", uidvalidity=mail_user.uidvalidity("INBOX"),
        uids=[uids[0]], target="Later",
    )  # fmt: skip

    assert index_uids(account) == [uids[1]]
    assert not IndexedFolder.objects.filter(account=account, name="Later").exists()
    account_sync(account)
    assert_index_equals_server(account, mail_user, "Later")
    assert rows(account, "Later").get().search_text == "Body of message 1."


def test_a_move_here_keeps_the_rendered_body_unless_it_links_the_messages_own_images(account, mail_user):
    mail_user.create_folder("Projects")
    uids = mail_user.append_many("INBOX", [mail(1), mail(2)])
    account_sync(account)
    plain, with_images = (rows(account).get(uid=uid).pk for uid in uids)
    body_keep(account=account, message_id=plain, part=None, images=False,
              body=SanitizedHtml(html="<p>Body of message 1.</p>", remote_blocked=0), links_expire=False)  # fmt: skip
    body_keep(account=account, message_id=with_images, part=None, images=False,
              body=SanitizedHtml(html='<img src="/inline/t">', remote_blocked=0), links_expire=True)  # fmt: skip
    validity = mail_user.uidvalidity("INBOX")

    messages_move(account=account, folder="INBOX", uidvalidity=validity, uids=uids, target="Projects")

    new_uids = sorted(server_state(mail_user, "Projects"))
    cached = body_cached(
        account=account, folder="Projects", uidvalidity=mail_user.uidvalidity("Projects"),
        uid=new_uids[0], part=None, images=False,
    )  # fmt: skip
    assert cached is not None and cached.html == "<p>Body of message 1.</p>"
    # Its inline-image links name INBOX and the old UID: rendered again when opened.
    assert not RenderedBody.objects.filter(message_id=with_images).exists()
