"""How long html_sanitize takes on deeply nested HTML: prints figures, asserts nothing.

Run from the repository root:  .venv/bin/python benchmarks/sanitize_deep_nesting.py

Four shapes per figure N: N nested <div>s (the case in design/security.md 3.7), N nested
<div>s with a word of text at every level, N unclosed <b> tags (formatting elements, kept
by html5lib in its list of "active formatting elements" as well as its stack), and one
that is not deep at all: twenty unclosed <b>s closed by a </p>, then N paragraphs, into
each of which html5lib re-opens all twenty. Small figures are the best of three runs.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from webmail.sanitize import SANITIZER_VERSION, html_sanitize  # noqa: E402 (after sys.path)

DEPTHS = (1_000, 5_000, 20_000, 50_000)
SHAPES = {
    "<div>": lambda n: "<div>" * n + "deep text" + "</div>" * n,
    "<div>word": lambda n: "<div>word " * n,
    "<b> unclosed": lambda n: "<b>" * n + "bold",
    "<b> re-opened": lambda n: (
        "<p>" + "".join(f'<b class="c{i}">' for i in range(20)) + "</p>" + "<p>x</p>" * n
    ),
}


def sanitize(html: str) -> str:
    return html_sanitize(html, inline_image_url=lambda _cid: None, remote_image_url=None).html


def best_of(html: str, runs: int) -> tuple[float, int]:
    times = []
    out = ""
    for _ in range(runs):
        start = time.perf_counter()
        out = sanitize(html)
        times.append(time.perf_counter() - start)
    return min(times), len(out)


def main() -> None:
    print(f"SANITIZER_VERSION {SANITIZER_VERSION}, Python {sys.version.split()[0]}")
    print(f"{'shape':<14} {'N':>7} {'input':>9} {'output':>9} {'seconds':>9}")
    for name, make in SHAPES.items():
        for depth in DEPTHS:
            html = make(depth)
            runs = 3 if depth <= 5_000 else 1
            try:
                seconds, out_len = best_of(html, runs)
                print(f"{name:<14} {depth:>7} {len(html):>9} {out_len:>9} {seconds:>9.3f}")
            except RecursionError:
                print(f"{name:<14} {depth:>7} {len(html):>9} {'-':>9} RecursionError")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
