"""How fast the sync fills and refreshes the index: prints figures, asserts nothing.

Run from the repository root:  .venv/bin/python benchmarks/sync.py [N ...]

Starts a throwaway Dovecot (tests/dovecot.py), fills one user per N (default 10,000 and
100,000) with benchmarks/mailgen.py's realistic mail straight into Maildirs, and one user
with 20 folders, then measures:

1. the raw limit: plain imapclient fetching ENVELOPE, FLAGS, RFC822.SIZE and
   BODYSTRUCTURE for every message, in batches of the sync's size (msgs/s); first once
   cold (Dovecot parses the new files and fills its cache), then warm: the warm figure
   is the limit, and what the sync is compared with;
2. the initial sync of each user (webmail.services.sync.account_sync, full, no time
   budget) in a child process, as a worker runs it: msgs/s, its share of the raw limit
   over the same folder, and the child's peak RSS (VmHWM);
3. the sync of the 20-folder account when nothing changed: p50 and p95 over RUNS runs.

The index is a new SQLite file under a temporary directory, or PostgreSQL with
BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench (the database is created,
filled and dropped: never point it at one that matters). Other settings, from the
environment: BENCH_FOLDER_MESSAGES (messages in each of the 20 folders, default 500),
BENCH_RUNS (no-change syncs, default 20), BENCH_PROFILE=1 (the child prints the 25
functions with the most time, with and without callees, of each initial sync).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from imapclient import IMAPClient  # noqa: E402 (after sys.path)

from benchmarks.mailgen import folder_names, mailbox_generate  # noqa: E402
from tests.dovecot import Dovecot, MailUser, new_mail_user  # noqa: E402

SIZES = [int(arg.replace("_", "")) for arg in sys.argv[1:]] or [10_000, 100_000]
FOLDER_MESSAGES = int(os.environ.get("BENCH_FOLDER_MESSAGES", "500"))
RUNS = int(os.environ.get("BENCH_RUNS", "20"))
PROFILE = os.environ.get("BENCH_PROFILE") == "1"
RAW_BATCH = 500  # the sync's BATCH: like for like
RAW_ITEMS = ["ENVELOPE", "FLAGS", "RFC822.SIZE", "BODYSTRUCTURE"]
SEED = 11
TARGET_SHARE = 0.5  # of the raw limit (issue 4)
TARGET_RSS_MB = 250  # at 100,000 messages
TARGET_NO_CHANGE_MS = 150  # 20 folders


def setup_django() -> str:
    """A fresh, migrated database; returns the URL a child process opens. DATA_DIR is a temp dir too: the credentials key and the sync's lock files
    live there, shared with the child."""
    os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="postfach-bench-data-")
    from benchmarks.search import setup_django as search_setup  # a fresh database, migrated

    url = search_setup()
    from django.db import connection

    if connection.vendor == "postgresql":
        url = f"{url.rsplit('/', 1)[0]}/{connection.settings_dict['NAME']}"
    return url


def raw_fetch(user: MailUser, folder: str = "INBOX") -> tuple[int, float]:
    """Every message's ENVELOPE, FLAGS, RFC822.SIZE and BODYSTRUCTURE with imapclient's
    own fetch, RAW_BATCH UIDs at a time; (messages, seconds)."""
    with IMAPClient(user.dovecot.host, user.dovecot.imap_port, ssl=False, timeout=60) as client:
        client.login(user.name, user.password)
        started = time.perf_counter()
        client.select_folder(folder, readonly=True)
        uids = client.search("ALL")
        count = 0
        for start in range(0, len(uids), RAW_BATCH):
            count += len(client.fetch(uids[start : start + RAW_BATCH], RAW_ITEMS))
        return count, time.perf_counter() - started


def _vmhwm_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _stopwatches() -> dict[str, float]:
    """Wraps the initial sync's steps with stopwatches (a few calls per batch, one per
    message for document_fold: no noticeable cost), for where the time goes. Seconds in
    each; "fetch" includes "parse", "store" includes "fold"."""
    import webmail.protocols.imap as imap
    import webmail.services.index as index
    import webmail.services.sync as sync

    spent = dict.fromkeys(("fetch", "parse", "texts", "entries", "store", "fold"), 0.0)

    def timed(owner, name: str, key: str) -> None:
        original = getattr(owner, name, None)
        if original is None:
            return  # renamed since: that figure stays 0

        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[key] += time.perf_counter() - started

        setattr(owner, name, wrapper)

    timed(imap.ImapStore, "messages_index", "fetch")  # FETCHes, parsing, IndexEntry objects
    timed(imap, "parse_fetch_response", "parse")  # imapclient's parser
    timed(imap.ImapStore, "_texts", "texts")  # the second FETCH: the first bytes of the text
    timed(imap, "_index_entry", "entries")  # headers decoded, addresses parsed
    timed(sync, "index_entries_store", "store")  # rows, search documents, bulk upsert
    timed(index, "document_fold", "fold")  # the search document
    return spent


def _sync_child(database_url: str, account_id: int, profile: bool, pipe) -> None:
    """A fresh interpreter, like a Celery worker: Django, then one account_sync."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webmail.settings")
    import django

    django.setup()
    from accounts.models import MailAccount
    from webmail.services.sync import account_sync

    logging.getLogger("webmail").setLevel(logging.WARNING)  # one line per sync: noise here

    account = MailAccount.objects.get(pk=account_id)
    spent = _stopwatches()
    before_kb = _vmhwm_kb()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started, cpu_started = time.perf_counter(), time.process_time()
    report = account_sync(account)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if profiler is not None:
        import pstats

        profiler.disable()
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("cumulative").print_stats(25)
        stats.sort_stats("tottime").print_stats(25)
    pipe.send(
        {
            "seconds": seconds,
            "cpu": cpu,  # far below `seconds`: waiting for Dovecot, or for a busy machine
            "new": report.new,
            "complete": report.complete,
            "error": report.error_code,
            "rss_start_kb": before_kb,
            "rss_peak_kb": _vmhwm_kb(),
            "spent": spent,
        }
    )


def sync_in_child(database_url: str, account_id: int) -> dict:
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe(duplex=False)
    child = context.Process(target=_sync_child, args=(database_url, account_id, PROFILE, theirs))
    child.start()
    theirs.close()
    try:
        result = ours.recv()
    except EOFError:
        result = {"complete": False, "error": "the child died; its traceback is above"}
    child.join()
    if child.exitcode != 0 or not result["complete"]:
        raise SystemExit(f"the sync failed: {result}")
    return result


def account_make(user: MailUser, index: int):
    from accounts.models import MailAccount, User

    owner = User.objects.create_user(f"bench{index}", password="bench-password-1")
    account = MailAccount(
        user=owner, email=f"{user.name}@example.org", protocol=MailAccount.Protocol.IMAP,
        incoming_host=user.dovecot.host, incoming_port=user.dovecot.imap_port,
        incoming_security=MailAccount.Security.NONE, incoming_login=user.name,
    )  # fmt: skip
    account.set_incoming_password(user.password)
    account.save()
    return account


def machine() -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), "unknown cpu",
    )  # fmt: skip
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    dovecot = subprocess.run(
        [shutil.which("dovecot") or "/usr/sbin/dovecot", "--version"],
        capture_output=True, text=True,
    ).stdout.split()[0]  # fmt: skip
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem_kb / 1024 / 1024:.1f} GiB; Python "
        f"{sys.version.split()[0]}, Dovecot {dovecot}; load average {load}"
    )


def database() -> str:
    from django.db import connection

    if connection.vendor == "postgresql":
        version = connection.pg_version
        return f"PostgreSQL {version // 10000}.{version % 10000}"
    import sqlite3

    return f"SQLite {sqlite3.sqlite_version}"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main() -> None:
    child_url = setup_django()
    from django.db import connections

    from webmail.services.sync import BATCH, account_sync

    logging.getLogger("webmail").setLevel(logging.WARNING)

    assert BATCH == RAW_BATCH, "compare like for like: RAW_BATCH is the sync's BATCH"
    print(f"sync benchmark on {machine()}; {database()}")
    rows: list[tuple[str, str, str, str]] = []  # what, figure, target, verdict
    with Dovecot() as dovecot:
        users = {}
        for n in SIZES:
            user = new_mail_user(dovecot, "bench", quota="0")
            started = time.perf_counter()
            mailbox_generate(dovecot, user, folders={"INBOX": n}, seed=SEED)
            seconds = time.perf_counter() - started
            size = sum(f.stat().st_size for f in (Path(dovecot.mail_root) / user.name).rglob("*"))
            print(f"  {n:,} messages generated and indexed by Dovecot in {seconds:.1f} s "
                  f"({size / 1e9:.2f} GB)")  # fmt: skip
            users[n] = user

        raw = {}
        for n, user in users.items():
            count, cold = raw_fetch(user)
            count, warm = raw_fetch(user)
            raw[n] = count / warm
            print(
                f"  raw FETCH of {count:,}: cold {count / cold:,.0f} msg/s, warm {raw[n]:,.0f} msg/s"
            )
        largest = max(SIZES)
        rows.append((
            f"raw limit: imapclient FETCH {' '.join(RAW_ITEMS)}, {largest:,} msgs",
            f"{raw[largest]:,.0f} msg/s", "", "",
        ))  # fmt: skip

        for index, (n, user) in enumerate(users.items()):
            account = account_make(user, index)
            connections.close_all()  # nothing shared with the child
            result = sync_in_child(child_url, account.pk)
            assert result["new"] == n, result
            rate = n / result["seconds"]
            share = rate / raw[n]
            peak_mb = result["rss_peak_kb"] / 1024
            rows.append((
                f"initial sync, {n:,} msgs ({result['seconds']:.1f} s)",
                f"{rate:,.0f} msg/s = {share:.0%} of raw ({raw[n]:,.0f})",
                f">= {TARGET_SHARE:.0%}", verdict(share >= TARGET_SHARE),
            ))  # fmt: skip
            spent = {key: value / result["seconds"] for key, value in result["spent"].items()}
            print(
                f"  initial sync of {n:,}: IMAP FETCH {spent['fetch']:.0%} (imapclient's parser "
                f"{spent['parse']:.0%}, text FETCH {spent['texts']:.0%}, entries from the "
                f"answers {spent['entries']:.0%}), index rows {spent['store']:.0%} (document_fold "
                f"{spent['fold']:.0%}), other {1 - spent['fetch'] - spent['store']:.0%}; "
                f"the worker's CPU time {result['cpu']:.1f} s of {result['seconds']:.1f} s"
            )
            rss_ok = peak_mb < TARGET_RSS_MB if n >= 100_000 else None
            rows.append((
                f"worker peak RSS, {n:,} msgs (at start {result['rss_start_kb'] / 1024:.0f} MB)",
                f"{peak_mb:,.0f} MB",
                f"< {TARGET_RSS_MB} MB at 100,000" if n >= 100_000 else "",
                "" if rss_ok is None else verdict(rss_ok),
            ))  # fmt: skip

        names = folder_names(20)
        user = new_mail_user(dovecot, "folders", quota="0")
        mailbox_generate(dovecot, user, folders=dict.fromkeys(names, FOLDER_MESSAGES), seed=SEED)
        account = account_make(user, len(users))
        first = account_sync(account)
        assert first.complete and first.new == FOLDER_MESSAGES * len(names), first
        times = []
        for _ in range(RUNS):
            started = time.perf_counter()
            report = account_sync(account)
            times.append((time.perf_counter() - started) * 1000)
            assert report.complete and report.new == report.changed == 0, report
        times.sort()
        p50 = statistics.median(times)
        p95 = times[max(0, int(len(times) * 0.95) - 1)]
        rows.append((
            f"no-change sync, {len(names)} folders x {FOLDER_MESSAGES} msgs (p95 {p95:.0f} ms)",
            f"p50 {p50:.0f} ms", f"< {TARGET_NO_CHANGE_MS} ms",
            verdict(p50 < TARGET_NO_CHANGE_MS),
        ))  # fmt: skip

    # A Markdown table: readable here, and pasted as it is into benchmarks/RESULTS.md.
    width = max(len(r[0]) for r in rows)
    print(f"\n| {'measure':{width}} | {'figure':32} | {'target':22} | result |")
    print(f"| {'-' * width} | {'-' * 32} | {'-' * 22} | ------ |")
    for what, figure, target, result in rows:
        print(f"| {what:{width}} | {figure:32} | {target:22} | {result:6} |")
    print(f"  (load average at the end {', '.join(f'{x:.2f}' for x in os.getloadavg())})")

    from django.db import connection

    if connection.vendor == "postgresql":
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)
    else:  # the SQLite file of 100,000 rows is over 600 MB: not left in the temp dir
        connection.close()
        folder = Path(connection.settings_dict["NAME"]).parent
        if folder.name.startswith("postfach-bench-"):
            shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(os.environ["DATA_DIR"], ignore_errors=True)


if __name__ == "__main__":
    main()
