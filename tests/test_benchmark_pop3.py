"""benchmarks/pop3_fetch.py at a tiny size: the whole run (Dovecot, mailbox, poplib, the
fetch in a child process) works and every message ends up stored, so the benchmark does
not rot between the times someone runs it. Only what it reports is checked, never how
fast anything was."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_it_fetches_every_message_and_prints_its_figures():
    env = dict(os.environ)
    for name in ("DATABASE_URL", "BENCH_DATABASE_URL", "BENCH_PROFILE", "DATA_DIR"):
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "benchmarks/pop3_fetch.py", "20"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "20 messages (1 of 1-10 MB) put on the server" in out
    assert re.search(r"poplib RETR: +[\d,]+ msgs/s +[\d.]+ MB/s", out), out
    assert re.search(r"pop3_fetch: +[\d,]+ msgs/s +[\d.]+ MB/s .* = \d+% of poplib", out), out
    assert re.search(r"peak RSS of the fetching process: \d+ MB \(target < 150 MB", out), out
    stored = re.search(
        r"stored: 20 of 20 messages, ([\d.]+) of ([\d.]+) MB; fetch complete: True", out
    )
    assert stored and stored[1] == stored[2], out
