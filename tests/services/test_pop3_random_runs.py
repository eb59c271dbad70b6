"""Randomized POP3 runs against the real Dovecot (issue 5, "No data loss, proven"): seeded
sequences of deliveries, fetches, policy changes, ageing, local deletes, cleanups, crashes
at the services' named points, connections cut at a random byte and another client
deleting on the server. After every step:

- every message ever delivered (its bytes as the server's RETR gave them, read once after
  delivery) is on the server still, or stored here with the same bytes: a StoredMessage
  whose blob verifies and reads back byte for byte; the only exceptions are messages
  another client deleted on the server before this server had stored them;
- no two StoredMessage rows of the account have the same digest, every blob verifies, and
  nothing is stored that the server never had;
- every ledger row "deleted" points at a verified blob, and its UIDL is gone from the
  server.

Each sequence ends with a fetch and a cleanup without faults, after which every message
on the server is stored here under its UIDL and no ledger row is left open (a cleanup's
listing settles what a killed or cut one left).

A failure names its seed and the steps taken; replay one sequence alone with
POP3_RANDOM_SEED=<seed> .venv/bin/python -m pytest tests/services/test_pop3_random_runs.py
(the messages are made from the seed; only the server's UIDVALIDITY differs).
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from django.db.models import F
from imapclient import IMAPClient

from accounts.models import MailAccount
from tests.dovecot import Dovecot, MailUser, new_mail_user
from tests.faultproxy import FaultProxy
from tests.personas import pop3_account_for
from webmail.models import IndexedMessage, Pop3Keep, Pop3Uidl, StoredMessage
from webmail.protocols.pop3 import Pop3Session
from webmail.services import pop3_cleanup as cleaning
from webmail.services import pop3_fetch as fetching
from webmail.services import pop3_policy as policies
from webmail.services.local_mail import LocalStore
from webmail.services.local_store import blob_store
from webmail.services.pop3_cleanup import pop3_cleanup
from webmail.services.pop3_fetch import pop3_fetch
from webmail.services.pop3_policy import pop3_cleanup_plan, pop3_policy_set

BLOCKS = 6
SEQUENCES_PER_BLOCK = 50  # 300 sequences in all
BASE_SEED = 5_000
FETCH_POINTS = ("blob_stored", "message_committed", "before_quit")
# Where a cleanup dies, and how: killed (no QUIT, or the rows not marked after QUIT), the
# connection cut before the next command, or the answer to the next command lost (after
# DELE: QUIT's, so the server deletes and the cleanup cannot know).
CLEANUP_FAULTS = (
    ("delete_requested", "kill"),
    ("after_dele", "kill"),
    ("after_quit", "kill"),
    ("delete_requested", "cut now"),
    ("after_dele", "cut now"),
    ("delete_requested", "lose the next reply"),
    ("after_dele", "lose the next reply"),
)
# The size limit counts in MB, and messages of megabytes would make hundreds of runs slow:
# here a "megabyte" is 100,000 bytes, so the limit of 1 catches the large-ish messages.
SMALL_MEGABYTE = 100_000
# Pop3Keep's rules in their order (delete after download, keep N days, keep until deleted
# here, keep forever): mostly rules that delete, so that cleanups have work to do.
POLICY_WEIGHTS = (5, 3, 1.5, 0.5)


OPEN_STATES = (Pop3Uidl.State.DELETE_REQUESTED, Pop3Uidl.State.UNKNOWN)


class WorkerKilled(BaseException):
    """A worker dying at a crash point: a BaseException, so the services' `except
    Exception` handlers never see it, as they would not see SIGKILL."""


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    """Blobs and file locks of this test only, in memory where the machine has a tmpfs:
    the runs store a thousand blobs, each fsynced (file and directory), which on a busy
    disk takes most of the test's time. The fsyncs still happen; what they guard against
    (power loss) is not what these runs simulate (a killed worker)."""
    memory = Path("/dev/shm")
    if not (memory.is_dir() and os.access(memory, os.W_OK)):
        settings.DATA_DIR = tmp_path
        yield
        return
    with tempfile.TemporaryDirectory(dir=memory, prefix="postfach-test-") as directory:
        settings.DATA_DIR = Path(directory)
        yield


@dataclass
class Delivered:
    uidl: str
    raw: bytes  # as the server's RETR gives it
    digest: str
    excused: bool = False  # another client deleted it before this server stored it


@dataclass
class Sequence:
    """One seeded sequence on a fresh mail user and account."""

    seed: int
    dovecot: Dovecot
    proxy: FaultProxy
    monkeypatch: pytest.MonkeyPatch
    user: MailUser | None = None
    account: MailAccount | None = None
    imap: IMAPClient | None = None  # another device's session, INBOX selected
    uidvalidity: int = 0
    rng: random.Random = field(init=False)
    steps: list[str] = field(default_factory=list)
    delivered: dict[str, Delivered] = field(default_factory=dict)  # by UIDL
    header_pool: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    # -- the run ------------------------------------------------------------------------

    def run(self, alice) -> None:
        # Dovecot's own fsync is not under test here, and would make each APPEND slow.
        self.user = new_mail_user(self.dovecot, prefix="rnd", settings={"mail_fsync": "never"})
        self.account = pop3_account_for(alice, self.dovecot, self.user)
        with self.user.client() as imap:  # another device, for the whole sequence
            self.imap = imap
            self.uidvalidity = imap.select_folder("INBOX")[b"UIDVALIDITY"]
            self._steps()

    def _steps(self) -> None:
        self.policy_change()
        self.deliver()
        self.check()
        actions = [
            (self.deliver, 3),
            (self.fetch, 3),
            (self.cleanup, 3),
            (self.policy_change, 1),
            (self.age, 1.5),
            (self.delete_here, 1),
            (self.crash, 3),
            (self.cut_connection, 1.5),
            (self.other_client_deletes, 1),
        ]
        functions, weights = zip(*actions, strict=True)
        for _step in range(self.rng.randint(5, 8)):
            self.rng.choices(functions, weights)[0]()
            self.check()
        self.steps.append("final fetch and cleanup, no faults")
        fetched = pop3_fetch(account=self.account)
        assert fetched.complete and not fetched.error, fetched
        cleaned = pop3_cleanup(account=self.account)
        assert cleaned.ok, cleaned
        self.check(final=True)

    # -- steps ----------------------------------------------------------------------------

    def deliver(self) -> None:
        count = self.rng.randint(0, 3)
        raws = [self._new_message() for _n in range(count)]
        self.steps.append(f"deliver {[len(raw) for raw in raws]}")
        if not raws:
            return
        for raw in raws:
            self.imap.append("INBOX", raw)
        with Pop3Session(self.user.pop3_settings()) as session:
            fresh = [e for e in session.listing() if e.uidl not in self.delivered]
            assert len(fresh) == len(raws)
            for entry in fresh:
                out = io.BytesIO()
                session.retr_to(entry.number, out)
                raw = out.getvalue()
                self.delivered[entry.uidl] = Delivered(entry.uidl, raw, _sha(raw))
            session.quit()

    def _new_message(self) -> bytes:
        rng = self.rng
        if self.header_pool and rng.random() < 0.4:
            head = rng.choice(self.header_pool)  # the same headers as an earlier message
        else:
            subject = f"Run {self.seed} message {len(self.header_pool)}"
            if rng.random() < 0.3:
                subject = "Same subject"
            head = (
                "From: Sender <sender@example.org>\r\nTo: reader@example.org\r\n"
                f"Subject: {subject}\r\n"
                f"Message-ID: <{rng.getrandbits(48):012x}@example.org>\r\n\r\n"
            ).encode()
            self.header_pool.append(head)
        if rng.random() < 0.12:
            size = rng.randint(50_000, 200_000)  # large-ish
        else:
            size = rng.randint(10, 3_000)
        letter = rng.choice(b"abcxyz")  # the same headers and size, other bytes
        body = (bytes([letter]) * 70 + b"\r\n") * (size // 72) + b"end\r\n"
        if rng.random() < 0.1 and self.delivered:
            return rng.choice(list(self.delivered.values())).raw  # the very same bytes again
        return head + body

    def fetch(self) -> None:
        caps = {}
        if self.rng.random() < 0.3:
            caps["max_messages"] = self.rng.randint(1, 2)
        elif self.rng.random() < 0.15:
            caps["max_bytes"] = self.rng.randint(100, 150_000)
        self.steps.append(f"fetch {caps}")
        report = pop3_fetch(account=self.account, **caps)
        assert not report.error, report

    def cleanup(self) -> None:
        confirmed = None
        if self.rng.random() < 0.3:
            ids = [item.ledger_id for item in pop3_cleanup_plan(account=self.account).items]
            confirmed = set(self.rng.sample(ids, self.rng.randint(0, len(ids))))
        self.steps.append(f"cleanup confirmed={confirmed}")
        report = pop3_cleanup(account=self.account, confirmed=confirmed)
        assert report.ok, report

    def policy_change(self) -> None:
        keep = self.rng.choices(Pop3Keep.values, POLICY_WEIGHTS)[0]
        days = self.rng.randint(1, 5)
        larger_than = 1 if self.rng.random() < 0.25 else None
        self.steps.append(f"policy {keep} days={days} larger_than_mb={larger_than}")
        pop3_policy_set(
            account=self.account, keep=keep, keep_days=days, delete_larger_than_mb=larger_than
        )

    def age(self) -> None:
        rows = list(StoredMessage.objects.filter(account=self.account).values_list("pk", flat=True))
        chosen = self.rng.sample(rows, self.rng.randint(0, len(rows)))
        days = self.rng.randint(1, 15)
        self.steps.append(f"age {len(chosen)} of {len(rows)} stored by {days} days")
        StoredMessage.objects.filter(pk__in=chosen).update(
            stored_at=F("stored_at") - timedelta(days=days)
        )

    def delete_here(self) -> None:
        rows = list(
            IndexedMessage.objects.filter(folder__account=self.account, folder__name="INBOX")
        )
        chosen = self.rng.sample(rows, self.rng.randint(0, len(rows)))
        self.steps.append(f"delete here for good {len(chosen)} of {len(rows)}")
        if chosen:
            folder = chosen[0].folder
            LocalStore(self.account).messages_expunge(
                "INBOX", [row.uid for row in chosen], uidvalidity=folder.uidvalidity
            )

    def crash(self) -> None:
        """The next job with work to do dies: mostly a cleanup when the rule lets it
        delete something, otherwise a fetch."""
        if pop3_cleanup_plan(account=self.account).items and self.rng.random() < 0.75:
            self.cleanup_crash()
        else:
            self.fetch_crash()

    def fetch_crash(self) -> None:
        point, nth = self.rng.choice(FETCH_POINTS), self.rng.randint(1, 2)
        self.steps.append(f"fetch, killed at {point} #{nth}")
        self._killed(fetching, point, nth, lambda: pop3_fetch(account=self.account))

    def cleanup_crash(self) -> None:
        point, how = self.rng.choice(CLEANUP_FAULTS)
        self.steps.append(f"cleanup, at {point}: {how}")
        if how == "kill":
            self._killed(cleaning, point, 1, lambda: pop3_cleanup(account=self.account))
            return
        fault = FaultProxy.cut_now if how == "cut now" else (lambda p: p.cut_after(0))
        self.monkeypatch.setattr(
            cleaning, "crash_hook", lambda name: fault(self.proxy) if name == point else None
        )
        try:
            self._through_proxy(lambda: pop3_cleanup(account=self.account))
        finally:
            self.monkeypatch.setattr(cleaning, "crash_hook", None)

    def _killed(self, module, point: str, nth: int, call) -> None:
        seen = []

        def die(name: str) -> None:
            if name == point:
                seen.append(name)
                if len(seen) == nth:
                    raise WorkerKilled(name)

        self.monkeypatch.setattr(module, "crash_hook", die)
        try:
            call()
        except WorkerKilled:
            self.steps[-1] += " (killed)"
        finally:
            self.monkeypatch.setattr(module, "crash_hook", None)

    def cut_connection(self) -> None:
        on_server = sum(len(m.raw) for m in self.delivered.values())
        if self.rng.random() < 0.5:
            at = self.rng.randint(0, on_server + 400)
            self.steps.append(f"fetch cut after {at} bytes")
            self.proxy.cut_after(at)
            self._through_proxy(lambda: pop3_fetch(account=self.account))
        else:
            at = self.rng.randint(0, 400 + 40 * len(self.delivered))
            self.steps.append(f"cleanup cut after {at} bytes")
            self.proxy.cut_after(at)
            self._through_proxy(lambda: pop3_cleanup(account=self.account))

    def _through_proxy(self, call) -> None:
        self.account.incoming_port = self.proxy.port
        try:
            call()  # a cut is an error on the report, never an exception
        finally:
            self.account.incoming_port = self.dovecot.pop3_port
            self.proxy.release()

    def other_client_deletes(self) -> None:
        on_server = sorted(self._on_server())
        if not on_server:
            self.steps.append("another client finds nothing to delete")
            return
        victim = self.delivered[self.rng.choice(on_server)]
        if victim.digest not in self._verified_digests():
            victim.excused = True  # gone before this server had it: nobody could keep it
        if self.rng.random() < 0.5:
            self.steps.append(f"another client expunges {victim.uidl} over IMAP")
            uid = int(victim.uidl[:8], 16)  # pop3_uidl_format = %08Xu%08Xv
            self.imap.delete_messages([uid])
            self.imap.uid_expunge([uid])
        else:
            self.steps.append(f"another client deletes {victim.uidl} over POP3")
            with Pop3Session(self.user.pop3_settings()) as session:
                number = {e.uidl: e.number for e in session.listing()}[victim.uidl]
                session.dele(number)
                assert session.quit()

    # -- the invariant --------------------------------------------------------------------

    def _verified_digests(self) -> set[str]:
        store = blob_store()
        rows = StoredMessage.objects.filter(account=self.account)
        return {row.digest for row in rows if store.problem(row.digest, row.size) is None}

    def _on_server(self) -> set[str]:
        """The UIDLs on the server now, as another device's IMAP session sees them."""
        self.imap.noop()
        return {_uidl(uid, self.uidvalidity) for uid in self.imap.search("ALL")}

    def check(self, *, final: bool = False) -> None:
        """The invariant (see the module's docstring); with `final`, after a fetch and a
        cleanup without faults, also: every message on the server is fetched under its
        UIDL, nothing fetched is missing from the local INBOX unless deleted there, and
        no ledger row is left open."""
        on_server = self._on_server()
        store = blob_store()
        rows = list(StoredMessage.objects.filter(account=self.account))
        stored = {row.digest for row in rows}
        assert len(rows) == len(stored), "a message is stored twice"
        broken = [row.digest for row in rows if store.problem(row.digest, row.size)]
        assert broken == [], "a stored blob does not verify"
        assert stored <= {m.digest for m in self.delivered.values()}, "stored, never delivered"
        for m in self.delivered.values():
            if m.excused or m.uidl in on_server:
                continue
            assert m.digest in stored, f"{m.uidl} lost: neither on the server nor stored here"
            with store.open(m.digest) as file:
                assert file.read() == m.raw, f"{m.uidl}: the local copy has other bytes"
        ledger = list(Pop3Uidl.objects.filter(account=self.account).select_related("stored"))
        for row in ledger:
            if row.state == Pop3Uidl.State.DELETED:
                assert row.stored.digest in stored, f"{row.uidl} deleted: its blob is not there"
                assert row.uidl not in on_server, f"{row.uidl} marked deleted, still on the server"
        if not final:
            return
        by_uidl = {row.uidl: row.stored.digest for row in ledger}
        for uidl in on_server:
            assert by_uidl.get(uidl) == self.delivered[uidl].digest, f"{uidl} not fetched"
        unlisted = [row.digest for row in rows if not (row.indexed_id or row.user_deleted_at)]
        assert unlisted == [], "stored, never deleted here, and not in the local INBOX"
        open_rows = [row.uidl for row in ledger if row.state in OPEN_STATES]
        assert open_rows == [], "a cleanup without faults left ledger rows unsettled"


def _uidl(uid: int, uidvalidity: int) -> str:
    return f"{uid:08x}{uidvalidity:08x}"  # tests/dovecot.py: pop3_uidl_format = %08Xu%08Xv


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _seeds(block: int) -> list[int]:
    replay = os.environ.get("POP3_RANDOM_SEED")
    if replay:
        return [int(replay)] if block == 0 else []
    first = BASE_SEED + block * SEQUENCES_PER_BLOCK
    return list(range(first, first + SEQUENCES_PER_BLOCK))


@pytest.mark.parametrize("block", range(BLOCKS))
def test_random_fetch_cleanup_and_crash_sequences_lose_nothing(block, alice, dovecot, monkeypatch):
    monkeypatch.setattr(policies, "MEGABYTE", SMALL_MEGABYTE)
    with FaultProxy(dovecot.host, dovecot.pop3_port) as proxy:
        for seed in _seeds(block):
            sequence = Sequence(seed, dovecot, proxy, monkeypatch)
            try:
                sequence.run(alice)
            except Exception as exc:
                steps = "\n  ".join(sequence.steps)
                pytest.fail(
                    f"seed {seed} (replay: POP3_RANDOM_SEED={seed}): "
                    f"{type(exc).__name__}: {exc}\nsteps:\n  {steps}"
                )
