"""Set-up the benchmarks share: a throwaway Django (database and DATA_DIR in temp dirs), a
service run in a fresh child process with its peak RSS, and the machine's description.
No main guard: `make bench` does not run this module.

    url = django_setup()                 # before any Django import; returns the URL
    result = child_run(work, url, 42)     # work(42) -> dict, in a spawned interpreter
    value, seconds, cpu = timed(lambda: service(...), profile=False)   # cProfile if True
    result["rss_peak_kb"], result["rss_start_kb"]
    account = mail_account_make(mail_user, pop3=True)
    print(machine(), database())
    django_teardown()                    # the database and DATA_DIR are removed

(benchmarks/sync.py has its own copies of these, from before this module.)
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def django_setup() -> str:
    """A fresh, migrated database (SQLite in a temp dir, or the PostgreSQL database of
    BENCH_DATABASE_URL, created and dropped); returns the URL a child process opens.
    DATA_DIR is a temp dir too: the credentials key, lock files and blobs live there,
    shared with the child."""
    os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="postfach-bench-data-")
    from benchmarks.search import setup_django  # a fresh database, migrated

    url = setup_django()
    from django.db import connection

    if connection.vendor == "postgresql":
        url = f"{url.rsplit('/', 1)[0]}/{connection.settings_dict['NAME']}"
    return url


def django_teardown() -> None:
    """Drops the PostgreSQL database or removes the SQLite file's temp dir, and DATA_DIR."""
    from django.db import connection

    if connection.vendor == "postgresql":
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)
    else:
        connection.close()
        folder = Path(connection.settings_dict["NAME"]).parent
        if folder.name.startswith("postfach-bench-"):
            shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(os.environ["DATA_DIR"], ignore_errors=True)


def vmhwm_kb() -> int:
    """This process's peak resident set size so far (VmHWM), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def timed(call: Callable[[], T], *, profile: bool = False) -> tuple[T, float, float]:
    """call()'s value, wall-clock and CPU seconds. With `profile`, under cProfile, which
    then prints to stderr the 30 functions with the most time with callees and the 25
    with the most of their own."""
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started, cpu_started = time.perf_counter(), time.process_time()
    value = call()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if profiler is not None:
        import pstats

        profiler.disable()
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("cumulative").print_stats(30)
        stats.sort_stats("tottime").print_stats(25)
    return value, seconds, cpu


def _child(work: Callable[..., dict], database_url: str, args: tuple, pipe) -> None:
    """A fresh interpreter, like a Celery worker: Django, then `work(*args)`."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webmail.settings")
    import django

    django.setup()
    import logging

    logging.getLogger("webmail").setLevel(logging.WARNING)  # a line per job: noise here
    start_kb = vmhwm_kb()
    result = work(*args)
    pipe.send({**result, "rss_start_kb": start_kb, "rss_peak_kb": vmhwm_kb()})


def child_run(work: Callable[..., dict], database_url: str, *args) -> dict:
    """`work(*args)` (a module-level function returning a dict) in a spawned child with
    Django set up on `database_url`; its dict plus the child's VmHWM after Django's
    set-up (rss_start_kb) and at the end (rss_peak_kb). The child's memory only: nothing
    the caller allocated counts. Raises SystemExit when the child dies."""
    from django.db import connections

    connections.close_all()  # no connection shared with the child
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(work, database_url, args, theirs))
    child.start()
    theirs.close()
    try:
        result = ours.recv()
    except EOFError:
        result = None
    child.join()
    if result is None or child.exitcode != 0:
        raise SystemExit(f"the child process failed (exit code {child.exitcode}); see above")
    return result


def mail_account_make(mail_user, *, pop3: bool = False, owner: str = "bench"):
    """A saved MailAccount (IMAP, or POP3) of a new Django user `owner` on `mail_user`'s
    mailbox of the throwaway Dovecot (tests/dovecot.py's MailUser), plain on loopback."""
    from accounts.models import MailAccount, User

    dovecot = mail_user.dovecot
    account = MailAccount(
        user=User.objects.create_user(owner, password="bench-password-1"),
        email=f"{mail_user.name}@example.org",
        protocol=MailAccount.Protocol.POP3 if pop3 else MailAccount.Protocol.IMAP,
        incoming_host=dovecot.host,
        incoming_port=dovecot.pop3_port if pop3 else dovecot.imap_port,
        incoming_security=MailAccount.Security.NONE,
        incoming_login=mail_user.name,
    )
    account.set_incoming_password(mail_user.password)
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
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem_kb / 1024 / 1024:.1f} GiB; Python "
        f"{sys.version.split()[0]}, Dovecot {dovecot}; load average {load_average()}"
    )


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def database() -> str:
    from django.db import connection

    if connection.vendor == "postgresql":
        version = connection.pg_version
        return f"PostgreSQL {version // 10000}.{version % 10000}"
    import sqlite3

    return f"SQLite {sqlite3.sqlite_version}"
