"""How fast the pages are: folder lists of 1,000 to 100,000 messages, opening a 100 KB HTML
newsletter, and 50 signed-in users at once against gunicorn. Prints figures, asserts nothing.

Run from the repository root:  .venv/bin/python benchmarks/web.py
On the 2-core machine a whole run takes about 10 minutes (half of it writing and syncing
113,000 messages) and 2.5 GB under the temporary directory while it lasts.

What it sets up, all throwaway: a Dovecot on 127.0.0.1 (tests/dovecot.py) with one user
whose folders hold 1,000, 10,000 and 100,000 messages of benchmarks/mailgen.py (written
straight into the Maildirs) and whose INBOX holds the mail the load run reads and a 100 KB
newsletter of mailgen's; a new SQLite database under a temporary
directory (or PostgreSQL with BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench,
created and dropped: never point it at one that matters); a Django user with a
MailAccount on that mailbox, and a full sync into the index (account_sync), so the lists
come from the index as they do once the worker has synced.

1. List page: the real folder view through django.test.Client, signed in: page 1 and the
   last page of each folder, p50/p95 over BENCH_RUNS requests, and the 100k/1k ratio.
2. Open the newsletter: the message page plus its body document, as a browser loads
   them; cold (no sanitized body stored anywhere, no quota cached) and warm (its body
   pre-rendered by services.prerender as the worker does after a sync), p50, and where
   a cold open's time goes. The message is made unread before every open (outside the
   timing), so every open is a first read that marks it \\Seen on the server, as opening
   new mail does.
3. Load: gunicorn as the Procfile starts it, on a free port of 127.0.0.1, and BENCH_USERS
   (50) signed-in users, each a thread with its own session, looping for BENCH_SECONDS
   (60) over: a random page of the INBOX, a message of that page (page + body), a search
   for a word, the unread counts; with a think time between clicks drawn from BENCH_THINK
   seconds (1-3, locust's usual `between(1, 3)`), then once more with none: that run
   finds the most the server does, not what 50 readers ask of it. Before them, one user
   alone for 10 s shows what each kind of request costs without waiting in a queue. Prints requests/s, p50/p99
   per kind and in all, and errors (any status but 200, or a failed connection).

Environment: BENCH_SIZES (1000,10000,100000: the list folders), BENCH_RUNS (40),
BENCH_USERS, BENCH_SECONDS, BENCH_THINK, BENCH_LOAD_MESSAGES (2000: the load run's INBOX),
BENCH_PARTS (lists,open,load: which parts run), BENCH_QUIET (a load average to wait for
before each part, at most BENCH_QUIET_WAIT seconds; 0, the default, waits for nothing).
"""

from __future__ import annotations

import http.client
import math
import os
import random
import re
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZES = [int(n) for n in os.environ.get("BENCH_SIZES", "1000,10000,100000").split(",")]
RUNS = int(os.environ.get("BENCH_RUNS", "40"))
USERS = int(os.environ.get("BENCH_USERS", "50"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "60"))
THINK = tuple(float(s) for s in os.environ.get("BENCH_THINK", "1-3").split("-"))
LOAD_MESSAGES = int(os.environ.get("BENCH_LOAD_MESSAGES", "2000"))
PARTS = os.environ.get("BENCH_PARTS", "lists,open,load").split(",")
# Wait (at most QUIET_WAIT seconds) for the 1-minute load average to fall below QUIET
# before each part: on a shared machine, other work's load is not ours to measure.
QUIET = float(os.environ.get("BENCH_QUIET", "0"))
QUIET_WAIT = float(os.environ.get("BENCH_QUIET_WAIT", "600"))
SEED = 7
SEARCH_WORDS = ["Rechnung", "Termin", "invoice", "meeting", "Angebot", "Bericht", "Urlaub"]


# -- set-up -------------------------------------------------------------------------------


def django_setup(data_dir: Path) -> str:
    """Settings for this process and the gunicorn it starts: the same database and the same
    DATA_DIR (so the same secret key and credentials key), static files without a
    manifest (no collectstatic needed), no Redis (nothing queued reaches a real worker)."""
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{data_dir}/bench.sqlite3"
    os.environ.update(
        DATABASE_URL=url, DATA_DIR=str(data_dir), STATIC_MANIFEST="false",
        DJANGO_SETTINGS_MODULE="webmail.settings", LOG_LEVEL="WARNING",
    )  # fmt: skip
    os.environ.pop("REDIS_URL", None)
    # The benchmark's Dovecot is on loopback, which the SSRF guard refuses unless allowed.
    os.environ.setdefault("MAIL_HOSTS_ALLOWED", "127.0.0.1")
    warnings.filterwarnings("ignore", message="No directory at")  # whitenoise: no collectstatic
    import django

    django.setup()
    from django.db import connection

    if url.startswith("postgres"):
        connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
        os.environ["DATABASE_URL"] = url.rsplit("/", 1)[0] + "/" + connection.settings_dict["NAME"]
    else:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
    return url


def newsletter_pick(seed: int) -> bytes:
    """The first of mailgen's HTML newsletters of stream `seed` with about 100 KB."""
    from benchmarks.mailgen import messages

    for message in messages(seed, 1000):
        if message.kind == "newsletter" and 95_000 <= len(message.raw) <= 110_000:
            return message.raw
    raise RuntimeError("no newsletter of about 100 KB in 1,000 messages")


def mailbox_fill(dovecot):
    """The bench user's mailbox, written by mailgen straight into its Maildirs: INBOX for
    the load run, one folder per list size; then the newsletter appended to INBOX (so it
    is the newest message there), returning its UID and size."""
    from benchmarks.mailgen import mailbox_generate
    from tests.dovecot import new_mail_user

    user = new_mail_user(dovecot, prefix="bench", quota="0")
    folders = {"INBOX": LOAD_MESSAGES, **{_folder(size): size for size in SIZES}}
    started = time.perf_counter()
    mailbox_generate(dovecot, user, folders=folders, seed=SEED)
    print(f"  {sum(folders.values()):,} messages generated in {time.perf_counter() - started:.1f} s")
    raw = newsletter_pick(SEED)
    return user, user.append("INBOX", raw), len(raw)


def _folder(size: int) -> str:
    return f"Bench/{size}"


def session_for(user) -> str:
    """A signed-in session's key, made as login() makes it, but without the sign-in
    signal (which would queue a sync for a worker that is not there)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    # The backend that checked a Postfach password (axes' comes first in the list, but it
    # only counts failures and cannot load a user).
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


def signed_in_client(user):
    from django.conf import settings
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    client.cookies[settings.SESSION_COOKIE_NAME] = session_for(user)
    return client


def account_make(dovecot, mail_user, username: str):
    from accounts.models import User
    from tests.personas import account_for

    user = User.objects.create_user(username, f"{username}@example.org", "bench-password-1")
    return account_for(user, dovecot, mail_user)


# -- measuring ----------------------------------------------------------------------------


def percentile(sorted_ms: list[float], p: float) -> float:
    """Nearest rank: the value below which p of the samples lie."""
    return sorted_ms[max(0, math.ceil(p * len(sorted_ms)) - 1)]


def timed(call, runs: int, before=None) -> list[float]:
    """ms per call, sorted; `before` runs untimed ahead of each call."""
    times = []
    for _ in range(runs):
        if before is not None:
            before()
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return sorted(times)


def _get(client, url: str):
    response = client.get(url)
    if response.status_code != 200:
        raise RuntimeError(f"GET {url}: {response.status_code}")
    return response


def bench_lists(client, account) -> None:
    from django.conf import settings

    print(f"\nList page (folder view, signed in, from the index), {RUNS} requests each:")
    page1 = {}
    for size in SIZES:
        last = max(1, math.ceil(size / settings.MAIL_PAGE_SIZE))
        for page in (1, last):
            url = f"/mail/{account.pk}/?" + urlencode({"folder": _folder(size), "page": page})
            for _ in range(3):  # warm-up: templates compiled, database pages cached
                _get(client, url)
            times = timed(lambda url=url: _get(client, url), RUNS)
            if page == 1:
                page1[size] = statistics.median(times)
            print(
                f"  {size:>7,} messages, page {page:>5,}: p50 {statistics.median(times):6.1f} ms"
                f"   p95 {percentile(times, 0.95):6.1f} ms"
            )
    if len(page1) > 1:
        small, large = min(page1), max(page1)
        print(f"  page 1 at {large:,} / at {small:,}: {page1[large] / page1[small]:.2f}x")


def bench_open(client, account, mail_user, uid: int, raw_size: int) -> None:
    from django.core.cache import cache

    from webmail.models import IndexedFolder, RenderedBody
    from webmail.services.prerender import bodies_prerender

    uidvalidity = IndexedFolder.objects.get(account=account, name="INBOX").uidvalidity
    page_url = f"/mail/{account.pk}/{uidvalidity}/{uid}/?folder=INBOX"
    body_url = f"/mail/{account.pk}/{uidvalidity}/{uid}/body/?folder=INBOX"

    def unread() -> None:
        with mail_user.client() as imap:
            imap.select_folder("INBOX")
            imap.remove_flags([uid], ["\\Seen"])

    def cold() -> None:
        unread()
        # No sanitized body anywhere: neither in the database (the worker's pre-rendering,
        # the view's own on a miss) nor in the process cache (which also drops the quota,
        # so a cold open asks the server for it again, as a first page of the day does).
        RenderedBody.objects.all().delete()
        cache.clear()

    def open_both(parts: dict) -> None:
        started = time.perf_counter()
        _get(client, page_url)
        middle = time.perf_counter()
        _get(client, body_url)
        parts["page"].append((middle - started) * 1000)
        parts["body"].append((time.perf_counter() - middle) * 1000)

    def prerender() -> None:
        # What the worker does after a sync brought this mail: the newest INBOX bodies.
        RenderedBody.objects.all().delete()
        report = bodies_prerender(account=account, limit=1)
        if report.rendered != 1:
            raise RuntimeError(f"the newsletter was not pre-rendered: {report}")

    print(f"\nOpen a {raw_size / 1024:.0f} KB HTML newsletter (message page + body), {RUNS} opens:")
    _get(client, page_url)  # the page's templates compiled, the quota read
    for name, before in (("cold", cold), ("warm", unread)):
        if name == "warm":
            prerender()
        parts = defaultdict(list)
        times = timed(lambda parts=parts: open_both(parts), RUNS, before=before)
        print(
            f"  {name}: p50 {statistics.median(times):6.1f} ms (page "
            f"{statistics.median(parts['page']):5.1f} + body "
            f"{statistics.median(parts['body']):5.1f})   p95 {percentile(times, 0.95):6.1f} ms"
        )


def open_breakdown(account, uid: int) -> None:
    """Where a cold open's time goes, step by step through the same functions the page
    calls (p50 of BENCH_RUNS each); what is left of the page is its rendering."""
    from django.conf import settings

    from webmail.mime.parse import message_parse
    from webmail.models import IndexedFolder
    from webmail.selectors import mailbox_read
    from webmail.services.bodies import body_render
    from webmail.services.stores import store_open

    uidvalidity = IndexedFolder.objects.get(account=account, name="INBOX").uidvalidity
    limit = settings.MAIL_MAX_PARSE_BYTES

    def connect() -> None:
        with store_open(account):
            pass

    def fetch():
        with store_open(account) as store:
            return store.message_raw("INBOX", uid, uidvalidity=uidvalidity, max_bytes=limit)

    raw = fetch()
    parsed = message_parse(raw.data, max_bytes=limit)

    def sanitize() -> None:
        body_render(parsed, inline_image_url=lambda cid: None, remote_image_url=None)

    def folder() -> None:
        mailbox_read(store=None, folder="INBOX", page=1, account=account)

    steps = {
        "IMAP connect + login + logout": connect,
        "... + FETCH of the message": fetch,
        "parse (MIME, 100 KB)": lambda: message_parse(raw.data, max_bytes=limit),
        "sanitize the HTML": sanitize,
        "folder list + page of 50 (index)": folder,
    }
    print("  where a cold open's time goes (p50):")
    for name, step in steps.items():
        print(f"    {name:34} {statistics.median(timed(step, RUNS)):6.1f} ms")


# -- the load run -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_start(port: int, log_path: Path) -> subprocess.Popen:
    """The Procfile's web process, as it is written there (workers, threads, time-out),
    on our port and without the access log."""
    line = next(
        line.split(":", 1)[1] for line in (ROOT / "Procfile").read_text().splitlines()
        if line.startswith("web:")
    )  # fmt: skip
    line = line.replace("${HOST:-127.0.0.1}", "127.0.0.1").replace("${PORT:-8000}", str(port))
    args = [a for a in shlex.split(line) if a not in ("--access-logfile", "-")]
    args[0] = str(ROOT / ".venv" / "bin" / args[0])
    with open(log_path, "ab") as log:
        process = subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{log_path.read_text()}") from None
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not listen within 30 s")


def load_users(dovecot, mail_user, template_account) -> list[tuple[str, int, int, list[int]]]:
    """BENCH_USERS Django users, each with a session and a MailAccount on the load mailbox
    whose index is a copy of the synced one (the rows a sync of the same mailbox writes,
    without 50 syncs); (session cookie, account id, INBOX uidvalidity, INBOX uids)."""
    from webmail.models import IndexedFolder, IndexedMessage

    def fields(model, *skip):
        return [f.attname for f in model._meta.concrete_fields if f.attname not in skip]

    folders = list(
        IndexedFolder.objects.filter(account=template_account)
        .exclude(name__startswith="Bench/")  # the list benchmark's folders stay out
        .values(*fields(IndexedFolder, "account_id"))
    )
    inbox_id = next(f["id"] for f in folders if f["name"] == "INBOX")
    messages = list(
        IndexedMessage.objects.filter(folder_id=inbox_id).order_by("uid")
        .values(*fields(IndexedMessage, "id", "folder_id"))
    )  # fmt: skip
    users = []
    for n in range(USERS):
        account = account_make(dovecot, mail_user, f"load{n}")
        for values in folders:
            row = IndexedFolder.objects.create(
                account=account, **{k: v for k, v in values.items() if k != "id"}
            )
            if row.name == "INBOX":
                inbox = row
        IndexedMessage.objects.bulk_create(
            (IndexedMessage(folder=inbox, **values) for values in messages), batch_size=500
        )
        users.append((session_for(account.user), account.pk, inbox.uidvalidity, [m["uid"] for m in messages]))
    return users


class LoadUser(threading.Thread):
    """One signed-in reader clicking through their mail until `stop`."""

    def __init__(self, port, user, stop: threading.Event, think: tuple, seed: int) -> None:
        super().__init__(daemon=True)
        self.port, self.stop, self.think = port, stop, think
        self.cookie, self.account_id, self.uidvalidity, self.uids = user
        self.rng = random.Random(seed)
        self.times: dict[str, list[float]] = defaultdict(list)
        self.errors: list[str] = []
        self.pages = max(1, math.ceil(len(self.uids) / 50))

    def get(self, kind: str, path: str) -> None:
        if self.stop.is_set():
            return
        started = time.perf_counter()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            conn.request("GET", path, headers={"Cookie": f"sessionid={self.cookie}"})
            response = conn.getresponse()
            response.read()
            conn.close()
            if response.status != 200:
                self.errors.append(f"{kind} {response.status}")
        except OSError as exc:
            self.errors.append(f"{kind} {type(exc).__name__}")
        self.times[kind].append((time.perf_counter() - started) * 1000)
        if self.think:
            self.stop.wait(self.rng.uniform(*self.think))

    def run(self) -> None:
        base = f"/mail/{self.account_id}/"
        while not self.stop.is_set():
            page = self.rng.randint(1, self.pages)
            self.get("list", f"{base}?folder=INBOX&page={page}")
            newest = len(self.uids) - (page - 1) * 50
            uid = self.uids[self.rng.randrange(max(0, newest - 50), max(1, newest))]
            message = f"{base}{self.uidvalidity}/{uid}/"
            self.get("open page", f"{message}?folder=INBOX&page={page}")
            self.get("open body", f"{message}body/?folder=INBOX")
            self.get("search", "/mail/search/?" + urlencode({"q": self.rng.choice(SEARCH_WORDS)}))
            self.get("counts", "/mail/counts/")


def load_run(port: int, users: list, think: tuple, seconds: float, report: bool = True) -> None:
    stop = threading.Event()
    threads = [LoadUser(port, user, stop, think, SEED + n) for n, user in enumerate(users)]
    cpu = os.times()
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    stop.wait(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    cpu_share = (sum(os.times()[:2]) - sum(cpu[:2])) / elapsed  # of one core, by our threads
    if not report:
        return
    by_kind: dict[str, list[float]] = defaultdict(list)
    errors = []
    for thread in threads:
        for kind, times in thread.times.items():
            by_kind[kind].extend(times)
        errors.extend(thread.errors)
    every = sorted(t for times in by_kind.values() for t in times)
    label = f"think time {think[0]:g}-{think[-1]:g} s" if think else "no think time"
    print(
        f"  {len(users)} user{'s' if len(users) > 1 else ''}, {label}, {elapsed:.0f} s: {len(every) / elapsed:6.1f} requests/s,"
        f" p50 {statistics.median(every):6.1f} ms, p99 {percentile(every, 0.99):6.1f} ms,"
        f" {len(errors)} errors of {len(every):,}; the load generator used {cpu_share:.0%}"
        " of a core"
    )
    for kind, times in by_kind.items():
        times.sort()
        print(
            f"    {kind:10} {len(times):6,}   p50 {statistics.median(times):6.1f} ms"
            f"   p99 {percentile(times, 0.99):6.1f} ms"
        )
    if errors:
        counts = defaultdict(int)
        for error in errors:
            counts[error] += 1
        print("    errors: " + ", ".join(f"{e} x{c}" for e, c in sorted(counts.items())))


def bench_load(dovecot, mail_user, account, data_dir: Path) -> None:
    print(f"\nLoad: gunicorn as in the Procfile, {USERS} signed-in users, {SECONDS:g} s a run:")
    users = load_users(dovecot, mail_user, account)
    port = _free_port()
    log_path = data_dir / "gunicorn.log"
    process = gunicorn_start(port, log_path)
    try:
        # Untimed: every gunicorn worker imports the views and fills its caches first.
        load_run(port, users, (), min(5.0, SECONDS), report=False)
        # One user alone: what each kind of request costs the server without a queue.
        load_run(port, users[:1], (), min(10.0, SECONDS))
        for think in (THINK, ()) if THINK != (0,) else ((),):
            load_run(port, users, think, SECONDS)
    finally:
        process.terminate()
        process.wait(timeout=30)
    failures = re.findall(r"^.*(?:Traceback|ERROR|CRITICAL).*$", log_path.read_text(), re.M)
    if failures:
        print(f"    gunicorn log ({log_path}): {len(failures)} error lines, first: {failures[0]}")


# -- main ---------------------------------------------------------------------------------


def _machine() -> str:
    import platform

    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    return f"{os.cpu_count()} x {model}, Python {platform.python_version()}"


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _quiet(part: str) -> None:
    deadline = time.monotonic() + QUIET_WAIT
    while QUIET and os.getloadavg()[0] >= QUIET and time.monotonic() < deadline:
        time.sleep(5)
    print(f"\n[{part}: {datetime.now(UTC):%H:%M} UTC, load average {_load()}]", end="")


def main() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="postfach-bench-web-"))
    try:
        url = django_setup(data_dir)
        _run(url, data_dir)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def _run(url: str, data_dir: Path) -> None:
    from django.db import connection

    from tests.dovecot import Dovecot
    from webmail.services.sync import account_sync

    print(f"web benchmark, {connection.vendor} ({url.split('@')[-1]}), {_machine()}")
    print(f"  load average before: {_load()}")
    with Dovecot() as dovecot:
        mail_user, newsletter_uid, newsletter_size = mailbox_fill(dovecot)
        account = account_make(dovecot, mail_user, "bench")
        started = time.perf_counter()
        report = account_sync(account)
        assert report.complete, report
        print(f"  full sync of {report.new:,} messages in {time.perf_counter() - started:.1f} s")
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        client = signed_in_client(account.user)
        if "lists" in PARTS:
            _quiet("lists")
            bench_lists(client, account)
        if "open" in PARTS:
            _quiet("open")
            bench_open(client, account, mail_user, newsletter_uid, newsletter_size)
            open_breakdown(account, newsletter_uid)
        if "load" in PARTS:
            _quiet("load")
            bench_load(dovecot, mail_user, account, data_dir)
    print(f"  load average after: {_load()}")
    if connection.vendor == "postgresql":
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


if __name__ == "__main__":
    main()
