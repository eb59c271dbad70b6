"""How fast pop3_fetch downloads a whole POP3 mailbox, and how much memory it takes:
prints figures, asserts nothing (issue 5).

Run from the repository root:  .venv/bin/python benchmarks/pop3_fetch.py [N]

Starts a throwaway Dovecot (tests/dovecot.py) and fills one user's INBOX with N messages
(default 5,000): 1% of them (at least one) large, 1 to 10 MB (seeded uniform sizes; a
short text and a base64 attachment of random bytes, 76-character lines), the rest
benchmarks/mailgen.py's realistic mail (about 22 KB on average). The large ones are spread
through the mailbox: mailgen's messages go in as Maildir files in rounds (seeds SEED,
SEED + 1, ...; each round's dates span mailgen's three years), each round followed by
one large message by APPEND. At N = 5,000: 4,950 mailgen messages and 50 large ones,
about 390 MB.

Then, with a Django of its own (a new SQLite file and DATA_DIR in temp dirs, or
PostgreSQL with BENCH_DATABASE_URL as in benchmarks/sync.py) and a POP3 MailAccount of
that user:

1. plain poplib RETR of every message, once untimed (Dovecot reads the files for the
   first time) and once timed: the reference speed of this run;
2. webmail.services.pop3_fetch.pop3_fetch(account=...) of the whole mailbox in a spawned
   child process, as a worker runs it: msgs/s, MB/s, its share of poplib's speed;
3. that child's peak RSS (VmHWM, so nothing of step 1 counts) against the 150 MB target.

BENCH_PROFILE=1: the child prints the 30 functions with the most time with callees and
the 25 with the most of their own (cProfile; the fetch is slower under it).

Exits non-zero when the fetch failed or stored fewer messages or bytes than the server
holds.
"""

from __future__ import annotations

import os
import poplib
import random
import sys
import time
from datetime import timedelta
from email.utils import format_datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import harness  # noqa: E402 (after sys.path)

N = int(sys.argv[1].replace("_", "")) if len(sys.argv) > 1 else 5_000
SEED = 21
MB = 1024 * 1024
LARGE_SHARE = 0.01
LARGE_MIN, LARGE_MAX = 1 * MB, 10 * MB
TARGET_RSS_MB = 150
PROFILE = os.environ.get("BENCH_PROFILE") == "1"


def large_message(rng: random.Random, index: int, size: int) -> bytes:
    """About `size` bytes (CRLF): a short German text and a base64 attachment."""
    from benchmarks.mailgen import END, OWNER

    date = END - timedelta(days=rng.randrange(3 * 365), minutes=rng.randrange(24 * 60))
    boundary = f"bench-{index}-{rng.getrandbits(32):08x}"
    name = f"Scan_{index:03d}.pdf"
    head = (
        f"From: Archiv <scanner@example.com>\r\nTo: {OWNER[0]} <{OWNER[1]}>\r\n"
        f"Subject: Scan {index} ({size / MB:.1f} MB)\r\nDate: {format_datetime(date)}\r\n"
        f"Message-ID: <large{index}.{SEED}@example.com>\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
        "Guten Tag,\r\n\r\nanbei die eingescannten Unterlagen.\r\n\r\n"
        f"--{boundary}\r\nContent-Type: application/pdf; name={name}\r\n"
        f"Content-Disposition: attachment; filename={name}\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    # 57 bytes become a 76-character line plus CRLF: 78
    data = b"%PDF-1.4\n" + rng.randbytes(max(0, (size - len(head) - len(tail)) * 57 // 78 - 9))
    import base64

    encoded = base64.b64encode(data)
    lines = b"\r\n".join(encoded[start : start + 76] for start in range(0, len(encoded), 76))
    return head + lines + tail


def mailbox_fill(dovecot, user, n: int) -> int:
    """Puts n messages into the user's INBOX (see the module's docstring); returns how
    many are large."""
    from benchmarks.mailgen import mailbox_generate

    rng = random.Random(SEED)
    large = max(1, round(n * LARGE_SHARE))
    small = n - large
    for round_ in range(large):
        count = small * (round_ + 1) // large - small * round_ // large
        if count:
            mailbox_generate(dovecot, user, folders={"INBOX": count}, seed=SEED + round_)
        user.append("INBOX", large_message(rng, round_, rng.randint(LARGE_MIN, LARGE_MAX)))
    return large


def poplib_retr_all(user) -> tuple[int, int, float]:
    """Plain poplib RETR of every message: (messages, octets, seconds)."""
    poplib._MAXLINE = MB  # mailgen's lines are short; this process only
    conn = poplib.POP3(user.dovecot.host, user.dovecot.pop3_port, timeout=60)
    try:
        conn.user(user.name)
        conn.pass_(user.password)
        count, _size = conn.stat()
        started, octets = time.perf_counter(), 0
        for number in range(1, count + 1):
            octets += conn.retr(number)[2]
        seconds = time.perf_counter() - started
    finally:
        conn.quit()
    return count, octets, seconds


def fetch(account_id: int) -> dict:
    """In the child (harness.child_run): one pop3_fetch of the whole mailbox."""
    from accounts.models import MailAccount
    from webmail.services.pop3_fetch import pop3_fetch

    account = MailAccount.objects.get(pk=account_id)
    report, seconds, cpu = harness.timed(lambda: pop3_fetch(account=account), profile=PROFILE)
    return {
        "seconds": seconds,
        "cpu": cpu,
        "complete": report.complete,
        "listed": report.listed,
        "new": report.new,
        "octets": report.octets,
        "error": report.error_code,
    }


def main() -> int:
    from tests.dovecot import Dovecot, new_mail_user

    database_url = harness.django_setup()
    from django.db.models import Count, Sum

    from webmail.models import StoredMessage

    print(f"POP3 fetch benchmark on {harness.machine()}; {harness.database()}")
    try:
        with Dovecot() as dovecot:
            user = new_mail_user(dovecot, "bench", quota="0")
            started = time.perf_counter()
            large = mailbox_fill(dovecot, user, N)
            print(f"  {N:,} messages ({large} of 1-10 MB) put on the server in "
                  f"{time.perf_counter() - started:.1f} s")  # fmt: skip
            poplib_retr_all(user)  # untimed: Dovecot's first read of every file
            count, octets, plain_seconds = poplib_retr_all(user)
            account = harness.mail_account_make(user, pop3=True)
            result = harness.child_run(fetch, database_url, account.pk)
        stored = StoredMessage.objects.aggregate(messages=Count("pk"), octets=Sum("size"))
    finally:
        harness.django_teardown()

    plain_rate = count / plain_seconds
    fetch_rate = count / result["seconds"]
    peak_mb = result["rss_peak_kb"] / 1024
    print(f"  {count:,} messages, {octets / MB:,.1f} MB on the server")
    print(f"  poplib RETR:  {plain_rate:8,.0f} msgs/s {octets / MB / plain_seconds:8.1f} MB/s "
          f"({plain_seconds:.1f} s)")  # fmt: skip
    print(
        f"  pop3_fetch:   {fetch_rate:8,.0f} msgs/s {result['octets'] / MB / result['seconds']:8.1f}"
        f" MB/s ({result['seconds']:.1f} s, CPU {result['cpu']:.1f} s) = "
        f"{fetch_rate / plain_rate:.0%} of poplib"
    )
    print(f"  peak RSS of the fetching process: {peak_mb:.0f} MB (target < {TARGET_RSS_MB} MB; "
          f"{result['rss_start_kb'] / 1024:.0f} MB after Django's start)")  # fmt: skip
    print(f"  stored: {stored['messages']:,} of {count:,} messages, "
          f"{(stored['octets'] or 0) / MB:,.1f} of {octets / MB:,.1f} MB; "
          f"fetch complete: {result['complete']}{' ' + result['error'] if result['error'] else ''}")  # fmt: skip
    print(f"  (load average at the end {harness.load_average()})")
    ok = result["complete"] and stored["messages"] == count and stored["octets"] == octets
    if not ok:
        print("FAILED: the fetch did not store every message the server holds", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
