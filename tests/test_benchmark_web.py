"""benchmarks/web.py at a tiny size: every part runs against the real pages, with no error
answer in the load run, so the benchmark does not rot between the times someone runs it.
Only what it reports is checked, never how fast anything was."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_it_measures_lists_opens_and_a_load_run_without_errors():
    env = {
        **os.environ,
        "BENCH_SIZES": "60,120",
        "BENCH_RUNS": "2",
        "BENCH_USERS": "2",
        "BENCH_SECONDS": "1",
        "BENCH_THINK": "0.05-0.1",
        "BENCH_LOAD_MESSAGES": "60",
    }
    for name in ("DATABASE_URL", "BENCH_DATABASE_URL", "BENCH_PARTS", "BENCH_QUIET"):
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "benchmarks/web.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert re.search(r"120 messages, page +3: p50", out)  # the last page of 120
    assert "page 1 at 120 / at 60:" in out
    assert re.search(r"cold: p50 .*\n  warm: p50 ", out)
    assert "sanitize the HTML" in out
    runs = re.findall(r"2 users, .*: +[\d.]+ requests/s, .*, (\d+) errors of (\d+);", out)
    assert len(runs) == 2, out
    assert all(errors == "0" and int(requests) > 0 for errors, requests in runs), out
    assert "gunicorn log" not in out  # no traceback in the server's log
