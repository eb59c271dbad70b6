"""Signed, cookie-less URLs for the images a message body shows from itself (cid:).

The body is rendered in a sandboxed iframe with an opaque origin, so the browser sends no
session cookie with the image requests it makes. The signed token names exactly one part
of one message of one account, so it can be served without a session and cannot be
turned into a way to read anything else.
"""

from dataclasses import dataclass

from django.core import signing

_SALT = "postfach.inline-part"
MAX_AGE_SECONDS = 24 * 3600


@dataclass(frozen=True)
class InlinePartRef:
    account_id: int
    folder: str
    uidvalidity: int
    uid: int
    part_id: str


def inline_part_token(ref: InlinePartRef) -> str:
    return signing.dumps(
        [ref.account_id, ref.folder, ref.uidvalidity, ref.uid, ref.part_id],
        salt=_SALT,
        compress=True,
    )


def inline_part_ref(token: str) -> InlinePartRef | None:
    """The reference a token names, or None when it is forged, damaged or expired."""
    try:
        account_id, folder, uidvalidity, uid, part_id = signing.loads(
            token, salt=_SALT, max_age=MAX_AGE_SECONDS
        )
    except (signing.BadSignature, ValueError, TypeError):
        return None
    return InlinePartRef(int(account_id), str(folder), int(uidvalidity), int(uid), str(part_id))
