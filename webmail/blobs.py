"""The blob store: raw messages on disk, named by their SHA-256, written so that a crash at
any moment leaves either the whole blob under its final name or nothing there.

Writing a blob (`BlobStore.writer()`):

1. The bytes go to a new file in `tmp/` (same file system as the blobs, so the rename is
   atomic), hashed and counted on the way; nothing is held in memory.
2. The file is fsynced, then renamed to `aa/bb/<digest>`, then the directory is fsynced:
   after that the blob survives a power cut, and only then may a database row point at it
   (mail-sync.md rule 3).
3. A blob that is already there and verifies is not written again; one that does not
   verify (truncated, altered) is replaced by the new, correct bytes.

A crash leaves at most a file in `tmp/`, never a half-written blob under a final name;
`temp_files_remove` sweeps those. The module knows nothing of Django: the services give
it its directory (settings.DATA_DIR / "blobs").
"""

from __future__ import annotations

import enum
import hashlib
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

__all__ = ["BlobProblem", "BlobStore", "BlobWriter"]

READ_PIECE = 1024 * 1024
TEMP_SUFFIX = ".part"
_DIGEST = re.compile(r"^[0-9a-f]{64}$")

# Tests set this to a function that raises or ends the process at a named step
# ("blob_written": fsynced but not renamed; "blob_renamed": renamed, directory not synced).
crash_hook: Callable[[str], None] | None = None


def _crash_point(name: str) -> None:
    if crash_hook is not None:
        crash_hook(name)


class BlobProblem(enum.StrEnum):
    """Why a blob failed verification."""

    MISSING = "missing"
    SIZE = "size"
    DIGEST = "digest"


class BlobWriter:
    """A write-only file that hashes what passes through; `digest` and `size` are set
    once the `BlobStore.writer()` block has ended and the blob is durable."""

    def __init__(self, file: BinaryIO):
        self._file = file
        self._hash = hashlib.sha256()
        self._size = 0
        self.digest = ""
        self.size = 0

    def write(self, data: bytes) -> int:
        self._file.write(data)
        self._hash.update(data)
        self._size += len(data)
        return len(data)


class BlobStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.temp_dir = self.root / "tmp"

    def path(self, digest: str) -> Path:
        if not _DIGEST.match(digest):
            raise ValueError("not a SHA-256 hex digest")
        return self.root / digest[:2] / digest[2:4] / digest

    # -- writing ------------------------------------------------------------------------

    @contextmanager
    def writer(self) -> Iterator[BlobWriter]:
        """Yields a BlobWriter; when the block ends normally the blob is durable under its
        digest. When it raises, the temporary file is removed and nothing is stored."""
        _make_dirs(self.temp_dir)
        temp = self.temp_dir / f"{secrets.token_hex(12)}{TEMP_SUFFIX}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as file:
                writer = BlobWriter(file)
                yield writer
                file.flush()
                os.fsync(file.fileno())
            writer.digest, writer.size = writer._hash.hexdigest(), writer._size
            _crash_point("blob_written")
            self._commit(temp, writer.digest, writer.size)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def write(self, source: BinaryIO | bytes) -> tuple[str, int]:
        """Stores bytes or a readable stream; returns (digest, size)."""
        with self.writer() as writer:
            if isinstance(source, bytes):
                writer.write(source)
            else:
                while piece := source.read(READ_PIECE):
                    writer.write(piece)
        return writer.digest, writer.size

    def _commit(self, temp: Path, digest: str, size: int) -> None:
        final = self.path(digest)
        if self.problem(digest, size) is None:
            temp.unlink()  # the same bytes are stored already
            return
        _make_dirs(final.parent)
        os.replace(temp, final)  # also replaces a damaged copy with the right bytes
        _crash_point("blob_renamed")
        _fsync_dir(final.parent)

    # -- reading and checking -----------------------------------------------------------

    def open(self, digest: str) -> BinaryIO:
        """The blob for reading; FileNotFoundError when it is not there."""
        return open(self.path(digest), "rb")

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def problem(self, digest: str, size: int) -> BlobProblem | None:
        """None when the blob is on disk with this size and its bytes, re-read now, hash
        to `digest`; otherwise what is wrong. Cleanup deletes a server copy only on None."""
        path = self.path(digest)
        try:
            if path.stat().st_size != size:
                return BlobProblem.SIZE
            found = hashlib.sha256()
            with open(path, "rb") as file:
                while piece := file.read(READ_PIECE):
                    found.update(piece)
        except FileNotFoundError:
            return BlobProblem.MISSING
        return None if found.hexdigest() == digest else BlobProblem.DIGEST

    def verify(self, digest: str, size: int) -> bool:
        return self.problem(digest, size) is None

    # -- removing -----------------------------------------------------------------------

    def remove(self, digest: str) -> bool:
        """Removes the blob; False when it was not there (already gone counts as done)."""
        path = self.path(digest)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        _fsync_dir(path.parent)
        return True

    def temp_files_remove(self, *, older_than_seconds: float, now: float | None = None) -> int:
        """Removes temporary files a crashed writer left, if older than the given age (a
        younger one may belong to a writer still at work). Returns how many went."""
        now = time.time() if now is None else now
        removed = 0
        try:
            entries = list(os.scandir(self.temp_dir))
        except FileNotFoundError:
            return 0
        for entry in entries:
            if not entry.name.endswith(TEMP_SUFFIX):
                continue
            try:
                if now - entry.stat().st_mtime > older_than_seconds:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                pass  # another sweep got there first
        return removed


def _make_dirs(path: Path) -> None:
    """mkdir -p, fsyncing each parent of a directory made, so the new name is durable."""
    if path.is_dir():
        return
    _make_dirs(path.parent)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        return
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
