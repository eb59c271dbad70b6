"""The one place that says what time it is, so tests can replace it."""

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)
