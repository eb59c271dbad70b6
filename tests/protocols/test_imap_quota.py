"""ImapStore.quota (RFC 9208 GETQUOTAROOT) against the test Dovecot's quota plugin, whose
users get their storage limit from the passwd-file (tests/dovecot.py, `quota=`).

What servers other than Dovecot may send (several roots, a QUOTA left over from an earlier
command, nonsense) is checked on the parser, `_quota`, with responses written out."""

import pytest
from imapclient.response_parser import parse_response

from tests.dovecot import new_mail_user
from webmail.protocols.errors import FolderNotFound, ServerUnavailable
from webmail.protocols.imap import _quota, imap_store
from webmail.protocols.store import Quota


def _server_says(user, folder: str = "INBOX") -> tuple[str, list]:
    """GETQUOTAROOT as another device sends it, for comparing with what quota() makes."""
    with user.client() as client:
        typ, _ = client._imap.xatom("GETQUOTAROOT", f'"{folder}"')
        _, quota = client._imap.response("QUOTA")
    return typ, [line for line in quota if line]


def test_it_reads_usage_and_limit_in_bytes(dovecot):
    user = new_mail_user(dovecot, "quota", quota="100K")
    user.fill(30)
    with imap_store(user.settings()) as store:
        quota = store.quota()
    # The server counts KiB; the store speaks bytes.
    assert _server_says(user) == ("OK", [b'"User quota" (STORAGE 30 100)'])
    assert quota == Quota(root="User quota", used_bytes=30 * 1024, limit_bytes=100 * 1024)
    assert quota.fraction == 0.3


def test_it_reads_the_quota_of_another_folder(dovecot):
    user = new_mail_user(dovecot, "quota", quota="100K")
    user.fill(10, folder="Sent")
    with imap_store(user.settings()) as store:
        assert store.quota("Sent").used_bytes == 10 * 1024
        with pytest.raises(FolderNotFound):
            store.quota("Sent\r\nA1 LOGOUT")


def test_it_brings_the_message_limit_along_where_there_is_one(dovecot):
    user = new_mail_user(dovecot, "quota", quota="100K", settings={"quota_rule2": "*:messages=10"})
    user.fill(20, messages=3)
    with imap_store(user.settings()) as store:
        quota = store.quota()
    assert (quota.used_bytes, quota.limit_bytes) == (20 * 1024, 100 * 1024)
    assert (quota.messages, quota.message_limit) == (3, 10)


def test_without_a_storage_limit_there_is_no_quota(dovecot):
    unlimited = new_mail_user(dovecot, "quota", quota="0")
    unlimited.fill(5)
    # Dovecot answers "OK No quota" with neither QUOTAROOT nor QUOTA (imapclient's own
    # get_quota_root fails on that with an IndexError).
    assert _server_says(unlimited) == ("OK", [])
    counted_only = new_mail_user(
        dovecot, "quota", quota="0", settings={"quota_rule2": "*:messages=10"}
    )
    for user in (unlimited, counted_only):
        with imap_store(user.settings()) as store:
            assert store.quota() is None
            assert store.folders()  # and the connection goes on as before


def test_without_the_quota_capability_it_does_not_ask(dovecot):
    """A user whose mail_plugins lack imap_quota is not offered QUOTA after login, though
    this Dovecot still answers GETQUOTAROOT: None here shows the capability was checked."""
    user = new_mail_user(dovecot, "quota", quota="100K", settings={"mail_plugins": "quota"})
    user.fill(30)
    assert _server_says(user) == ("OK", [b'"User quota" (STORAGE 30 100)'])
    with imap_store(user.settings()) as store:
        assert not store._has("QUOTA")
        assert store.quota() is None


def test_it_never_sends_getquotaroot_without_the_capability(mail_user):
    with imap_store(mail_user.settings()) as store:
        store._has = lambda name: name != "QUOTA"
        store._client._imap.xatom = lambda *args: pytest.fail(f"sent {args}")
        assert store.quota() is None


# -- the parser, with responses as other servers may send them ---------------------------


def _parsed(*lines: bytes) -> list:
    return list(parse_response(list(lines))) if lines else []


def test_of_several_roots_the_fullest_counts():
    quota = _quota(
        _parsed(b'INBOX "User quota" "Domain quota"'),
        _parsed(b'"User quota" (STORAGE 10 100)', b'"Domain quota" (STORAGE 900 1000)'),
    )
    assert quota == Quota(root="Domain quota", used_bytes=900 * 1024, limit_bytes=1000 * 1024)


def test_a_quota_for_a_root_the_folder_does_not_have_is_ignored():
    quota = _quota(
        _parsed(b'INBOX ""'),
        _parsed(b'"shared" (STORAGE 99 100)', b'"" (STORAGE 1 100 MESSAGE 4 50)'),
    )
    assert quota == Quota(
        root="", used_bytes=1024, limit_bytes=100 * 1024, messages=4, message_limit=50
    )


def test_resource_names_are_case_insensitive_and_unknown_ones_ignored():
    quota = _quota(
        _parsed(b"INBOX root"),
        _parsed(b"root (mailbox 3 10 storage 5 10 ANNOTATION-STORAGE 1 2)"),
    )
    assert (quota.used_bytes, quota.limit_bytes) == (5 * 1024, 10 * 1024)


@pytest.mark.parametrize(
    "roots, quotas",
    [
        ([b"INBOX"], [b'"User quota" (STORAGE 1 100)']),  # no root for this folder
        ([b'INBOX "User quota"'], []),  # a root, but no QUOTA for it
        ([b'INBOX "User quota"'], [b'"User quota" (STORAGE 10 0)']),  # 0 is no limit
        ([b'INBOX "User quota"'], [b'"User quota" (MESSAGE 1 10)']),  # counts only
        ([b'INBOX "User quota"'], [b'"User quota" (STORAGE NIL 100)']),  # not a number
        ([b'INBOX "User quota"'], [b'"User quota" ()']),
        ([], []),
    ],
)
def test_it_finds_no_storage_limit_in(roots, quotas):
    assert _quota(_parsed(*roots), _parsed(*quotas)) is None


@pytest.mark.parametrize(
    "quotas",
    [
        [b'"User quota"'],  # a root without its list
        [b'"User quota" (STORAGE 10)'],  # a resource without its limit
    ],
)
def test_a_malformed_quota_is_the_servers_fault(quotas):
    with pytest.raises(ServerUnavailable):
        _quota(_parsed(b'INBOX "User quota"'), _parsed(*quotas))
