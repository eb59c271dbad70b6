"""One job per account at a time (mail-sync.md, rule 8), across any number of workers.

With REDIS_URL: a Redis lock with an expiry (redis-py's Lock, a token compared on
release), so a killed worker blocks its account for at most `timeout` seconds; a running
job calls `refresh()` after every batch to keep it. Without Redis (`make run` on one
machine): an exclusive flock on a file under DATA_DIR/locks, which the kernel drops when
the process holding it dies, however it dies.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from django.conf import settings

log = logging.getLogger(__name__)

_clients: dict[str, object] = {}
_clients_lock = threading.Lock()


class LockLost(Exception):
    """The lock expired while the job ran (it stalled longer than the expiry) and may be
    another worker's now: the job must stop."""


class JobLock(Protocol):
    def refresh(self) -> None:
        """Keeps the lock for another `timeout` seconds (a no-op where it never expires);
        raises LockLost when it is no longer ours."""


def _redis(url: str):
    import redis  # only needed with REDIS_URL

    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            client = _clients[url] = redis.Redis.from_url(url, socket_timeout=10)
        return client


class _RedisLock:
    def __init__(self, lock) -> None:
        self._lock = lock

    def refresh(self) -> None:
        from redis.exceptions import LockError

        try:
            self._lock.reacquire()
        except LockError as exc:
            raise LockLost(self._lock.name) from exc


class _FileLock:
    def refresh(self) -> None:
        pass


@contextmanager
def job_lock(name: str, *, timeout: int) -> Iterator[JobLock | None]:
    """Holds the lock called `name` for the block and yields it, or yields None at once
    when another process or thread holds it. Never waits."""
    if settings.REDIS_URL:
        with _redis_lock(name, timeout) as held:
            yield held
    else:
        with _file_lock(name) as held:
            yield held


@contextmanager
def _redis_lock(name: str, timeout: int) -> Iterator[JobLock | None]:
    from redis.exceptions import LockError

    key = f"{settings.REDIS_KEY_PREFIX}lock:{name}"
    lock = _redis(settings.REDIS_URL).lock(key, timeout=timeout, thread_local=False)
    if not lock.acquire(blocking=False):
        yield None
        return
    try:
        yield _RedisLock(lock)
    finally:
        try:
            lock.release()
        except LockError:
            # It expired while we worked (and may be someone else's now): nothing to free.
            log.warning("lock %s had expired before it was released", name)


@contextmanager
def _file_lock(name: str) -> Iterator[JobLock | None]:
    directory = settings.DATA_DIR / "locks"
    directory.mkdir(exist_ok=True)
    path = directory / (hashlib.sha256(name.encode()).hexdigest()[:32] + ".lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        yield _FileLock()
    finally:
        os.close(fd)  # closing the descriptor drops the flock
