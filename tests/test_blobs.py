"""The blob store on a real file system: what is stored reads back byte for byte, a crash
never leaves a half-written blob under its final name, and verification catches damage."""

import hashlib
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.pop3_helpers import files_under
from webmail import blobs
from webmail.blobs import BlobProblem, BlobStore

RAW = b"From: a@example.org\r\nSubject: Hello\r\n\r\nBody.\r\n"
DIGEST = hashlib.sha256(RAW).hexdigest()


@pytest.fixture
def store(tmp_path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


def test_it_reads_back_what_was_stored_under_its_sha256(store):
    assert store.write(RAW) == (DIGEST, len(RAW))
    with store.open(DIGEST) as file:
        assert file.read() == RAW
    assert files_under(store.root) == [f"{DIGEST[:2]}/{DIGEST[2:4]}/{DIGEST}"]


def test_it_stores_a_stream_without_knowing_its_length(store):
    data = os.urandom(5 * 1024 * 1024 + 3)
    digest, size = store.write(io.BytesIO(data))
    assert (digest, size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert store.path(digest).read_bytes() == data


def test_it_does_not_write_a_blob_twice(store):
    store.write(RAW)
    first = store.path(DIGEST).stat()
    assert store.write(RAW) == (DIGEST, len(RAW))
    again = store.path(DIGEST).stat()
    assert (again.st_ino, again.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)
    assert files_under(store.root) == [f"{DIGEST[:2]}/{DIGEST[2:4]}/{DIGEST}"]


def test_it_repairs_a_damaged_blob_when_the_same_bytes_come_again(store):
    store.write(RAW)
    store.path(DIGEST).write_bytes(RAW[:10])
    store.write(RAW)
    assert store.verify(DIGEST, len(RAW))


def test_it_leaves_nothing_when_the_writer_fails_midway(store):
    with pytest.raises(ConnectionResetError), store.writer() as writer:
        writer.write(RAW[:20])
        raise ConnectionResetError("the download broke off")
    assert files_under(store.root) == []


def test_it_finds_a_missing_a_truncated_and_an_altered_blob(store):
    assert store.problem(DIGEST, len(RAW)) is BlobProblem.MISSING
    store.write(RAW)
    assert store.problem(DIGEST, len(RAW)) is None
    path = store.path(DIGEST)
    path.write_bytes(RAW[:-1])
    assert store.problem(DIGEST, len(RAW)) is BlobProblem.SIZE
    path.write_bytes(RAW.replace(b"Hello", b"Hallo"))  # same size, other bytes
    assert store.problem(DIGEST, len(RAW)) is BlobProblem.DIGEST
    assert not store.verify(DIGEST, len(RAW))


def test_it_removes_a_blob_and_treats_gone_as_done(store):
    store.write(RAW)
    assert store.remove(DIGEST) is True
    assert store.remove(DIGEST) is False
    assert not store.exists(DIGEST)


def test_it_refuses_a_name_that_is_not_a_digest(store):
    with pytest.raises(ValueError):
        store.open("../../etc/passwd")


def _write_and_die_at(root: Path, crash_point: str) -> subprocess.CompletedProcess:
    """Writes RAW in another process that ends itself (like SIGKILL: no clean-up, no
    finally) at the named step."""
    script = f"""
import os
from pathlib import Path
from tests.pop3_helpers import files_under
from webmail import blobs
def die(name):
    if name == {crash_point!r}:
        os._exit(137)
blobs.crash_hook = die
blobs.BlobStore(Path({str(root)!r})).write({RAW!r})
"""
    return subprocess.run(
        [sys.executable, "-c", script], cwd=Path(blobs.__file__).parent.parent, timeout=60
    )


def test_a_crash_before_the_rename_leaves_no_blob_and_a_temp_file_the_sweep_removes(store):
    assert _write_and_die_at(store.root, "blob_written").returncode == 137
    assert not store.exists(DIGEST)
    (leftover,) = files_under(store.root)
    assert leftover.startswith("tmp/") and leftover.endswith(".part")
    # A young temp file may belong to a writer still at work: kept.
    assert store.temp_files_remove(older_than_seconds=3600) == 0
    assert store.temp_files_remove(older_than_seconds=3600, now=time.time() + 7200) == 1
    assert files_under(store.root) == []


def test_a_crash_right_after_the_rename_leaves_the_whole_blob(store):
    assert _write_and_die_at(store.root, "blob_renamed").returncode == 137
    assert store.verify(DIGEST, len(RAW))
    assert files_under(store.root) == [f"{DIGEST[:2]}/{DIGEST[2:4]}/{DIGEST}"]
