"""How long the conversation reads take on a big folder: prints figures, asserts nothing.

Run from the repository root:  .venv/bin/python benchmarks/threads.py [N]

Fills a throwaway database (as benchmarks/search.py does: SQLite in a temporary
directory, or BENCH_DATABASE_URL for PostgreSQL) with an INBOX of N messages (default
100,000) in conversations of 1 to 8 messages with Message-ID, In-Reply-To and References,
2 KB of body text each as the sync keeps it, and a Sent folder with a reply to every
fourth conversation; then times the folder's conversation list (first and a later page)
and the conversation of a message (newest, one from the middle of the folder, a reply
without reference headers), p50/p95 in ms with the number of queries.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from search import FILLER, WORDS, setup_django  # noqa: E402  (benchmarks/search.py)

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
RUNS = 30
SEED = 7


def fill(rng: random.Random):
    from accounts.models import MailAccount, User
    from webmail.models import IndexedFolder, IndexedMessage

    user = User.objects.create_user("bench", password="bench-password-1")
    account = MailAccount(
        user=user, email="bench@example.org", protocol=MailAccount.Protocol.IMAP,
        incoming_host="mail.example.invalid", incoming_port=143,
        incoming_security=MailAccount.Security.NONE, incoming_login="bench",
    )  # fmt: skip
    account.set_incoming_password("x")
    account.save()
    inbox = IndexedFolder.objects.create(
        account=account, name="INBOX", uidvalidity=1, fully_indexed=True, messages=ROWS
    )
    sent = IndexedFolder.objects.create(
        account=account, name="Sent", special_use="\\Sent", uidvalidity=2, fully_indexed=True
    )
    start = datetime(2020, 1, 1, tzinfo=UTC)
    rows = {inbox.pk: [], sent.pk: []}
    open_threads: list[list[str]] = []  # reference chains of conversations still going
    sent_uid = 0
    for n in range(ROWS):
        date = start + timedelta(minutes=17 * n)
        subject = " ".join(rng.choices(WORDS, k=3))
        mid = f"m{n}@bench"
        refs: list[str] = []
        if open_threads and rng.random() < 0.6:
            chain = rng.choice(open_threads[-200:])  # replies come while a thread is recent
            refs = chain[-20:]
            subject = "Re: " + chain[0].split("|")[1]
            refs = [r.split("|")[0] for r in refs]
            chain.append(f"{mid}|{subject}")
        elif rng.random() < 0.02:
            subject = "AW: " + rng.choice(open_threads[-50:])[0].split("|")[1] if open_threads else subject
        else:
            open_threads.append([f"{mid}|{subject}"])
        body = " ".join(rng.choice(WORDS + FILLER * 3) for _ in range(300))[:2000]
        rows[inbox.pk].append(
            IndexedMessage(
                folder=inbox, uid=n + 1, message_id=mid, in_reply_to=refs[-1] if refs else "",
                references=" ".join(refs), subject=subject, from_name="Anna",
                from_addr="anna@example.org", date=date, flags="\\Seen" if rng.random() < 0.8 else "",
                preview=body[:200], search_text=body, search_document=body,
            )
        )  # fmt: skip
        if not refs and rng.random() < 0.25:
            sent_uid += 1
            rows[sent.pk].append(
                IndexedMessage(
                    folder=sent, uid=sent_uid, message_id=f"s{n}@bench", in_reply_to=mid,
                    references=mid, subject=f"Re: {subject}", from_name="Me",
                    from_addr="bench@example.org", date=date + timedelta(minutes=5),
                    flags="\\Seen", preview=body[:200], search_text=body, search_document=body,
                )
            )  # fmt: skip
    for folder_rows in rows.values():
        for at in range(0, len(folder_rows), 1000):
            IndexedMessage.objects.bulk_create(folder_rows[at : at + 1000])
    IndexedFolder.objects.filter(pk=sent.pk).update(messages=sent_uid)
    return account, sent_uid


def timed(name: str, call) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times = []
    for _ in range(RUNS):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            result = call()
            times.append((time.perf_counter() - started) * 1000)
    times.sort()
    p95 = times[int(len(times) * 0.95) - 1]
    size = len(result.rows) if hasattr(result, "rows") else len(result)
    print(
        f"  {name:44} p50 {statistics.median(times):7.1f} ms   p95 {p95:7.1f} ms"
        f"   {len(queries)} queries, {size} rows"
    )


def main() -> None:
    url = setup_django()
    from django.db import connection

    from webmail.conversations import conversation_for_message, conversation_page
    from webmail.models import IndexedMessage

    rng = random.Random(SEED)
    started = time.perf_counter()
    account, sent_count = fill(rng)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(
        f"conversations over an INBOX of {ROWS:,} and a Sent folder of {sent_count:,}, "
        f"{connection.vendor} ({url.split('@')[-1]}); filled in {time.perf_counter() - started:.0f} s"
    )
    inbox = IndexedMessage.objects.filter(folder__name="INBOX")
    newest_reply = inbox.exclude(references="").order_by("-uid").first()
    middle_root = inbox.filter(references="", uid__lte=ROWS // 2).order_by("-uid").first()
    plain = inbox.filter(references="", subject__startswith="AW: ").order_by("-uid").first()

    def conversation(row):
        return lambda: conversation_for_message(
            account=account, folder="INBOX", uidvalidity=1, uid=row.uid
        )

    timed("conversation list, page 1", lambda: conversation_page(account=account, folder="INBOX", page=1))
    timed("conversation list, page 10", lambda: conversation_page(account=account, folder="INBOX", page=10))
    timed("conversation of the newest reply", conversation(newest_reply))
    timed("conversation of a root in the middle", conversation(middle_root))
    if plain is not None:
        timed("conversation of a reply without references", conversation(plain))
    if connection.vendor == "postgresql":
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


if __name__ == "__main__":
    main()
