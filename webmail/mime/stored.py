"""A parsed message's page data without its bodies, as JSON-safe values, so the reading
page can be shown from the database (RenderedBody.page) when the body is already
rendered: headers, attachments with their part ids and sizes, the parser's notes and
the too-large/truncated marks. The bodies themselves are never stored here: the
sanitized rendering is (services.bodies)."""

from __future__ import annotations

from datetime import datetime

from webmail.protocols.store import Address

from .model import ParsedMessage, PartInfo, Problem

# Bumped when the shape changes: older data is not read, the page then takes the server.
PAGE_DATA_VERSION = 1


def _addresses(addresses: list[Address]) -> list[list[str]]:
    return [[a.name, a.addr] for a in addresses]


def _json_value(value: object) -> object:
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


def page_data_dump(parsed: ParsedMessage) -> dict:
    return {
        "version": PAGE_DATA_VERSION,
        "subject": parsed.subject,
        "from": _addresses(parsed.from_),
        "to": _addresses(parsed.to),
        "cc": _addresses(parsed.cc),
        "reply_to": _addresses(parsed.reply_to),
        "date": parsed.date.isoformat() if parsed.date else None,
        "message_id": parsed.message_id,
        "attachments": [
            [p.part_id, p.filename, p.content_type, p.size, p.content_id, p.inline, p.is_message]
            for p in parsed.attachments
        ],
        # A note keeps its template and values, so the page still shows it translated.
        "problems": [
            [getattr(p, "template", str(p)),
             {k: _json_value(v) for k, v in getattr(p, "params", {}).items()}]
            for p in parsed.problems
        ],  # fmt: skip
        "too_large": parsed.too_large,
        "truncated": parsed.truncated,
    }


def page_data_load(data: dict | None) -> ParsedMessage | None:
    """The message as the page shows it, with no bodies; None for missing or older data."""
    if not data or data.get("version") != PAGE_DATA_VERSION:
        return None
    return ParsedMessage(
        subject=data["subject"],
        from_=[Address(*pair) for pair in data["from"]],
        to=[Address(*pair) for pair in data["to"]],
        cc=[Address(*pair) for pair in data["cc"]],
        reply_to=[Address(*pair) for pair in data["reply_to"]],
        date=datetime.fromisoformat(data["date"]) if data["date"] else None,
        message_id=data["message_id"],
        text_body=None,
        html_body=None,
        attachments=[PartInfo(*values) for values in data["attachments"]],
        problems=[Problem(template, **params) for template, params in data["problems"]],
        too_large=data["too_large"],
        truncated=data["truncated"],
    )
