"""How long mail_search takes over a large index: prints figures, asserts nothing.

Run from the repository root:  .venv/bin/python benchmarks/search.py [N]

Fills a throwaway database with N synthetic index rows (default 100,000; seeded, so
repeatable: German and English words, names, addresses, 2 KB of body text like the sync
keeps) in 20 folders of two accounts, then times searches of the kind readers type: one
common word, one rare word, two words, a sender address, a prefix while typing, a word
with a filter, across all folders and in one folder. Prints p50/p95 in ms per kind.

The database is a new SQLite file under a temporary directory, or PostgreSQL with
BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench (the database is created,
filled and dropped: never point it at one that matters).

Figures at 100,000 rows, 2 cores shared with other runs (load average 2 to 3), p50/p95 ms.
SQLite, before (count query + page query sorting every match) and after (the newest
1,001 ids in one query, tried in a date window first; services/search.py):

    common word, all folders           341 / 371  ->   29 / 45
    rare word, all folders               3 / 3    ->    2 / 2
    two words, all folders             334 / 399  ->   29 / 45
    sender address, all folders          3 / 5    ->    4 / 6
    prefix while typing (3 letters)    334 / 598  ->   41 / 55
    word + unread, INBOX               116 / 147  ->   61 / 81
    umlaut word, INBOX                 196 / 223  ->   24 / 38
    word, page 20, all folders         388 / 418  ->   31 / 52
    a name in 7%, all folders          111        ->   34 / 53  (before: p50 only, its p95
                                                                   ran beside a fill)
    word + attachments, all folders    212        ->   39 / 57
    word + unread + flagged, all       194        ->  138 / 170  (1% of rows: no window
                                                                   fits, all 86,000
                                                                   matches are read)
    word in one quarter, all folders   189        ->   22 / 30
    unread only (no words), all        280        ->   33 / 38

PostgreSQL, before (GIN over the german||simple expression, no date windows with words;
ANALYZE only; load 3 to 7) and after (a stored generated tsvector column with the GIN
index over it, the same windows as SQLite; VACUUM ANALYZE; load 2 to 4):

    common word, all folders           234 / 360  ->   88 / 111
    rare word, all folders               5 / 7    ->    3 / 3
    two words, all folders             177 / 258  ->   86 / 113
    sender address, all folders         27 / 57   ->    6 / 7
    prefix while typing (3 letters)    195 / 269  ->   84 / 108
    word + unread, INBOX               118 / 145  ->   67 / 83
    umlaut word, INBOX                 236 / 310  ->   62 / 74
    word, page 20, all folders         202 / 284  ->   85 / 116
    a name in 7%, all folders           67 / 113  ->   44 / 61
    word + attachments, all folders    254 / 307  ->   56 / 72
    word + unread + flagged, all       887 / 1058 ->  121 / 157
    word in one quarter, all folders  4666 / 5875 ->   76 / 98
    unread only (no words), all        473 / 754  ->   23 / 39

Without the VACUUM (before autovacuum has been through a freshly filled table) the
window's start reads the table for every index entry: 0.4 s more per search.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
RUNS = 40  # timed searches per kind
SEED = 4

WORDS = (
    "Angebot Rechnung Termin Besprechung Projekt Bericht Urlaub Grüße Straße Müller Größe "
    "Übersicht Änderung Öffnungszeiten Lieferung Bestellung Vertrag Kündigung Einladung "
    "meeting invoice report schedule update release budget review deadline holiday "
    "weekly newsletter Angebotsfrist Quartal Zahlung Mahnung Steuer Erklärung Versicherung "
    "Wohnung Miete Nebenkosten Heizung Reparatur Handwerker Kindergarten Schule Elternabend "
    "Fußball Training Verein Mitgliedsbeitrag Konzert Karten Bahn Verspätung Flug Hotel"
).split()
FILLER = "und der die das mit für auf ist nicht ein eine wir sie es zu im bei von aus".split()
NAMES = "Anna Jürgen Carla Dieter Eva Fritz Gisela Hans Ines Jörg Karin Lukas Maria Nils".split()
SURNAMES = "Schmidt Müller Weiß Schäfer Becker Hoffmann Koch Richter Wolf Krüger Groß".split()


def setup_django() -> str:
    url = os.environ.get("BENCH_DATABASE_URL")
    if not url:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='postfach-bench-')}/bench.sqlite3"
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webmail.settings")
    # The benchmarks' Dovecot is on loopback, which the SSRF guard refuses unless allowed.
    os.environ.setdefault("MAIL_HOSTS_ALLOWED", "127.0.0.1")
    import django

    django.setup()
    if url.startswith("postgres"):
        from django.db import connection

        # Fill a fresh database of our own; Django's test machinery creates and drops it.
        connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    else:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
    return url


def fill(rng: random.Random) -> tuple:
    from django.db import connection, transaction

    from accounts.models import MailAccount, User
    from webmail.models import IndexedFolder, IndexedMessage
    from webmail.search_fold import document_fold

    user = User.objects.create_user("bench", password="bench-password-1")
    accounts = []
    for n in range(2):
        account = MailAccount(
            user=user, email=f"bench{n}@example.org", protocol=MailAccount.Protocol.IMAP,
            incoming_host="mail.example.invalid", incoming_port=143,
            incoming_security=MailAccount.Security.NONE, incoming_login=f"bench{n}",
        )  # fmt: skip
        account.set_incoming_password("x")
        account.save()
        accounts.append(account)
    folders = [
        IndexedFolder.objects.create(
            account=accounts[f % 2], name="INBOX" if f < 2 else f"Ordner {f}",
            uidvalidity=1000 + f, fully_indexed=True, selectable=True,
        )  # fmt: skip
        for f in range(20)
    ]
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:  # a throwaway file: no need to survive a crash
            cursor.execute("PRAGMA synchronous = OFF")
            cursor.execute("PRAGMA journal_mode = MEMORY")

    def insert(rows: list) -> None:
        with transaction.atomic():
            IndexedMessage.objects.bulk_create(rows)

    start = datetime(2020, 1, 1, tzinfo=UTC)
    batch, uid = [], 0
    started = time.perf_counter()
    for n in range(ROWS):
        uid += 1
        folder = folders[0] if rng.random() < 0.4 else rng.choice(folders)
        first, last = rng.choice(NAMES), rng.choice(SURNAMES)
        addr = f"{first.lower()}.{last.lower()}{rng.randrange(50)}@example.{rng.choice(['de', 'org', 'com'])}"
        subject = " ".join(rng.choices(WORDS, k=rng.randint(2, 6)))
        body_words, length = [], 0
        while length < 2000:
            body_words.append(rng.choice(WORDS) if rng.random() < 0.3 else rng.choice(FILLER))
            length += len(body_words[-1]) + 1
        body = " ".join(body_words)
        to = "Alice <alice@example.org>"
        batch.append(
            IndexedMessage(
                folder=folder, uid=uid, subject=subject, from_name=f"{first} {last}",
                from_addr=addr, to=to, date=start + timedelta(minutes=17 * n),
                seen=rng.random() < 0.8, flagged=rng.random() < 0.05,
                has_attachments=rng.random() < 0.15, preview=body[:200], search_text=body,
                search_document=document_fold(f"{first} {last}", addr, to, "", subject, body),
            )
        )  # fmt: skip
        if len(batch) == 5000:
            insert(batch)
            batch = []
    insert(batch)
    return user, accounts, folders, time.perf_counter() - started


def main() -> None:
    url = setup_django()
    from django.db import connection

    from webmail.services.search import Scope, SearchQuery, mail_search

    rng = random.Random(SEED)
    user, accounts, folders, fill_seconds = fill(rng)
    with connection.cursor() as cursor:
        # On PostgreSQL also what autovacuum does soon after a bulk insert: without the
        # visibility map the window's start (read along the folder/date index) visits the
        # table for each entry, 0.4 s instead of 5 ms.
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    vendor = connection.vendor
    print(f"search over {ROWS:,} index rows, {vendor} ({url.split('@')[-1]})")
    print(f"  filled in {fill_seconds:.1f} s")
    inbox = folders[0]
    kinds = {
        "common word, all folders": lambda: SearchQuery(text="Rechnung ", scope=Scope.ALL),
        "rare word, all folders": lambda: SearchQuery(
            text=f"{rng.choice(SURNAMES)} {rng.choice(NAMES)}{rng.randrange(10)} ",
            scope=Scope.ALL,
        ),
        "two words, all folders": lambda: SearchQuery(
            text=f"{rng.choice(WORDS)} {rng.choice(WORDS)} ", scope=Scope.ALL
        ),
        "sender address, all folders": lambda: SearchQuery(
            text=f"{rng.choice(NAMES).lower()}.{rng.choice(SURNAMES).lower()}{rng.randrange(50)}@",
            scope=Scope.ALL,
        ),
        "prefix while typing (3 letters)": lambda: SearchQuery(
            text=rng.choice(WORDS)[:3], scope=Scope.ALL
        ),
        "word + unread, INBOX": lambda: SearchQuery(
            text=rng.choice(WORDS) + " ", account=accounts[0], folder=inbox.name, unread=True
        ),
        "umlaut word, INBOX": lambda: SearchQuery(
            text="GRÜSSE ", account=accounts[0], folder=inbox.name
        ),
        "word, page 20, all folders": lambda: SearchQuery(
            text="Termin ", scope=Scope.ALL, page=20
        ),
        "a name in 7%, all folders": lambda: SearchQuery(text="Jürgen ", scope=Scope.ALL),
        "word + attachments, all folders": lambda: SearchQuery(
            text="Rechnung ", scope=Scope.ALL, attachments=True
        ),
        "word + unread + flagged, all": lambda: SearchQuery(
            text="Rechnung ", scope=Scope.ALL, unread=True, flagged=True
        ),
        "word in one quarter, all folders": lambda: SearchQuery(
            text="Rechnung ", scope=Scope.ALL, date_from=date(2021, 1, 1), date_to=date(2021, 3, 31)
        ),
        "unread only (no words), all": lambda: SearchQuery(scope=Scope.ALL, unread=True),
    }
    for name, make in kinds.items():
        times, hits = [], 0
        for _ in range(RUNS):
            query = make()
            started = time.perf_counter()
            page = mail_search(user, query)
            times.append((time.perf_counter() - started) * 1000)
            hits += page.total
        times.sort()
        p95 = times[int(len(times) * 0.95) - 1]
        print(
            f"  {name:34} p50 {statistics.median(times):7.1f} ms   p95 {p95:7.1f} ms"
            f"   ({hits // RUNS:,} matches on average)"
        )
    if vendor == "postgresql":
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


if __name__ == "__main__":
    main()
