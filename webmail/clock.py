"""The one place that says what time it is, so tests can replace it."""

from datetime import datetime, timezone


def now() -> datetime:
    return datetime.now(timezone.utc)
