"""How fast webmail.protocols.pop3 streams RETR, and how little memory it holds: prints
figures, asserts nothing.

Run from the repository root:  .venv/bin/python benchmarks/pop3_retr.py [N]

Starts a throwaway Dovecot (tests/dovecot.py), fills one user's INBOX with N (default
1,000) of benchmarks/mailgen.py's realistic messages plus three large ones (10 MB of
76-character lines, 10 MB and 30 MB as one single line each), then RETRs every message:

1. with plain poplib (the limit: the whole message as a list of lines in memory; its
   line limit raised for the long lines, as nobody should in production);
2. with Pop3Session.retr_to into a SHA-256 sink (the protocol code alone);
3. with Pop3Session.retr_to into the blob store (temp file, fsync, rename, directory
   fsync per message: what a fetch pays for durability).

For each: msgs/s, MB/s and the share of poplib's speed; and the peak of Python memory
(tracemalloc) while reading the 30 MB message, which for the streaming reader should stay
near its 64 KiB piece whatever the message's size.
"""

from __future__ import annotations

import contextlib
import hashlib
import poplib
import secrets
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.mailgen import mailbox_generate  # noqa: E402 (after sys.path)
from tests.dovecot import Dovecot, new_mail_user  # noqa: E402
from webmail.blobs import BlobStore  # noqa: E402
from webmail.protocols.pop3 import Pop3Session  # noqa: E402

N = int(sys.argv[1].replace("_", "")) if len(sys.argv) > 1 else 1_000
SEED = 5
MB = 1024 * 1024


class Sink:
    def __init__(self) -> None:
        self.hash = hashlib.sha256()

    def write(self, piece: bytes) -> int:
        self.hash.update(piece)
        return len(piece)


def large(subject: str, body: bytes) -> bytes:
    head = f"From: big@example.org\r\nTo: reader@example.org\r\nSubject: {subject}\r\n\r\n"
    return head.encode() + body


def run_poplib(settings) -> tuple[int, float]:
    poplib._MAXLINE = 64 * MB  # the benchmark's own process only
    conn = poplib.POP3(settings.host, settings.port, timeout=60)
    conn.user(settings.login)
    conn.pass_(settings.password)
    count, _ = conn.stat()
    started, total = time.perf_counter(), 0
    for number in range(1, count + 1):
        _, lines, octets = conn.retr(number)
        total += octets
    seconds = time.perf_counter() - started
    conn.quit()
    return total, seconds


def run_session(settings, target) -> tuple[int, float]:
    with Pop3Session(settings) as session:
        entries = session.listing()
        started, total = time.perf_counter(), 0
        for entry in entries:
            total += target(session, entry.number)
        return total, time.perf_counter() - started


def peak_while(settings, number: int, target_context) -> int:
    """tracemalloc's peak while message `number` is read into what `target_context()`
    yields (the opening of the target itself is outside the measure)."""
    with Pop3Session(settings) as session, target_context() as target:
        tracemalloc.start()
        session.retr_to(number, target)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak


def main() -> None:
    with Dovecot() as dovecot, tempfile.TemporaryDirectory(prefix="postfach-bench-") as tmp:
        user = new_mail_user(dovecot, "bench", quota="0")
        mailbox_generate(dovecot, user, folders={"INBOX": N}, seed=SEED)
        user.append_many(
            "INBOX",
            [
                large("Lines", (b"x" * 76 + b"\r\n") * (10 * MB // 78)),
                large("One 10 MB line", secrets.token_hex(5 * MB).encode() + b"\r\n"),
                large("One 30 MB line", secrets.token_hex(15 * MB).encode() + b"\r\n"),
            ],
        )
        settings = user.pop3_settings(timeout=60)
        store = BlobStore(Path(tmp) / "blobs")

        def to_sink(session, number):
            return session.retr_to(number, Sink())

        def to_store(session, number):
            with store.writer() as blob:
                session.retr_to(number, blob)
            return blob.size

        run_session(settings, to_sink)  # warm Dovecot's caches once
        results = {
            "poplib RETR (in memory)": run_poplib(settings),
            "retr_to, SHA-256 sink": run_session(settings, to_sink),
            "retr_to, blob store (fsync)": run_session(settings, to_store),
        }
        messages = N + 3
        base = results["poplib RETR (in memory)"][0] / results["poplib RETR (in memory)"][1]
        print(f"{messages} messages, {results['retr_to, SHA-256 sink'][0] / MB:.0f} MB")
        for name, (octets, seconds) in results.items():
            rate = octets / seconds
            print(
                f"  {name:30} {messages / seconds:8.0f} msgs/s {rate / MB:8.1f} MB/s"
                f"  {rate / base:5.0%} of poplib"
            )
        last = N + 3
        for name, target_context in (
            ("a SHA-256 sink", lambda: contextlib.nullcontext(Sink())),
            ("the blob store", store.writer),
        ):
            peak = peak_while(settings, last, target_context)
            print(f"  peak Python memory, RETR of the 30 MB line into {name}: {peak / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
