"""Checks for values that end up in header fields of outgoing mail (identities, contacts).

A value that could end a header line is refused, never repaired: a repaired address or
name is a different one, and the person who typed it should see why it was not saved.
The same rule as the compose code's `has_line_breaking`: control characters (CR, LF, NUL,
tab, NEL, ...) and the Unicode line and paragraph separators.
"""

import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

_LINE_BREAKING = frozenset(("Cc", "Zl", "Zp"))
_BODY_WHITESPACE = frozenset("\n\r\t")


def line_breaking(text: str) -> bool:
    return any(unicodedata.category(char) in _LINE_BREAKING for char in text)


def validate_one_line(value: str) -> None:
    """For names and addresses: one line of printable text."""
    if value and line_breaking(value):
        raise ValidationError(
            _("Use one line of text, without line breaks or control characters."),
            code="line_break",
        )


def validate_text(value: str) -> None:
    """For multi-line text that goes into a message body (signatures): line breaks and
    tabs are fine, other control characters (NUL, escape, ...) are not."""
    if value and any(
        unicodedata.category(char) == "Cc" and char not in _BODY_WHITESPACE for char in value
    ):
        raise ValidationError(_("Remove the control characters from this text."), code="control")
