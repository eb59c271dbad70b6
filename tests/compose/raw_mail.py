"""Reading raw message bytes line by line, as the tests check them besides parsing."""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

NOW = datetime(2026, 3, 3, 10, 15, 0, tzinfo=ZoneInfo("Europe/Berlin"))


def header_block(data: bytes) -> bytes:
    """The top header block of raw message bytes."""
    return data.split(b"\r\n\r\n", 1)[0]


def header_names(block: bytes) -> list[str]:
    """The field names of a raw header block, read line by line as any parser would:
    a line that does not start with white space starts a new field."""
    names = []
    for line in block.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            continue
        names.append(line.split(b":", 1)[0].decode("ascii").lower())
    return names


def part_header_blocks(data: bytes) -> list[bytes]:
    """Every header block in the raw bytes: the top one and the one after each line
    that opens a part (a "--" and a boundary some Content-Type declares)."""
    boundaries = {b"--" + b for b in re.findall(rb'boundary="([^"\r\n]+)"', data)}
    blocks = [header_block(data)]
    lines = data.split(b"\r\n")
    for index, line in enumerate(lines):
        if line in boundaries:
            block = []
            for following in lines[index + 1 :]:
                if not following:
                    break
                block.append(following)
            blocks.append(b"\r\n".join(block))
    return blocks
