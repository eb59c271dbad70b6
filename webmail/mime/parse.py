"""A raw message read into what the reading page shows (ParsedMessage), and single parts
handed out by their IMAP section number.

Every message is hostile until shown otherwise (design/security.md 3.7):

1. The raw bytes are measured before the email package sees them: too many bytes, lines
   or boundary lines and only the header block is read, by our own bounded reader.
2. The email package parses under a policy that shortens absurd header values before
   its header parser sees them (that parser is quadratic in the number of parameters).
3. The structure is walked with a bound on depth and on the number of parts; whatever
   lies beyond is not shown and a note says so.
4. Every other failure becomes a plain-English note in `problems`; nothing here raises
   for any input bytes.

Part numbers are IMAP section numbers (RFC 3501 6.4.5): a message that is not multipart
has its body as part "1"; the parts of a multipart are 1, 2, ...; the parts of a nested
multipart n are n.1, n.2, ...; and the body parts of an attached message n (message/rfc822)
are n.1, n.2, .... They are always counted from the top of the raw message, also when a
nested message is shown on its own, so any listed part can be fetched with message_part.
"""

from __future__ import annotations

import functools
import html
import logging
import re
from collections import deque
from dataclasses import dataclass, field, replace
from email import errors
from email.message import Message
from email.parser import BytesParser
from email.policy import EmailPolicy
from email.utils import collapse_rfc2231_value
from urllib.parse import unquote

from webmail.mime.filenames import filename_display
from webmail.mime.headers import address_list, charset_decode, header_date, header_text
from webmail.mime.model import ParsedMessage, PartContent, PartInfo, Problem, gettext_noop

logger = logging.getLogger(__name__)

MAX_BYTES = 50 * 1024 * 1024
MAX_DEPTH = 30  # nesting of multiparts and attached messages
MAX_PARTS = 500  # parts of the whole raw message, attached messages included
MAX_LINES = 2_000_000  # a 50 MB message of base64 has under 700,000
MAX_BOUNDARY_LINES = 2_000  # "--boundary" lines; each one starts a part the parser builds
MAX_HEADER_BLOCK = 1024 * 1024  # bytes of a header block read without the parser
MAX_HEADERS = 500  # header fields listed by message_headers
MAX_BODY_CHARS = 2_000_000  # characters of text or HTML shown
MAX_PARAM_HEADER = 4096  # characters of a Content-* header given to the email package
MAX_PARAMS = 64  # parameters of one such header
MAX_PROBLEMS = 10

# The notes are English strings, and Problems: a page shows them in the reader's language
# (mail_tags.problem_text). `gettext_noop` only marks them for makemessages; this module
# stays free of Django.
DAMAGED = Problem(gettext_noop("The message structure is damaged; it is shown as well as possible."))
NO_BOUNDARY = Problem(gettext_noop(
    "The message says it has several parts but not where they begin; its raw text is shown."
))
TOO_DEEP = Problem(
    gettext_noop("The message is nested too deeply; parts below level {depth} are not shown."),
    depth=MAX_DEPTH,
)
TOO_MANY_PARTS = Problem(
    gettext_noop("The message has too many parts; only the first {parts} are shown."),
    parts=MAX_PARTS,
)
TOO_LARGE = gettext_noop(
    "The message is too large to show ({size}); only its headers are shown. "
    "Download the original to read it."
)
TOO_COMPLEX = Problem(gettext_noop(
    "The message has too many parts or lines to show; only its headers are shown. "
    "Download the original to read it."
))
TOO_DEEP_TO_READ = Problem(gettext_noop(
    "The message is nested too deeply to read; only its headers are shown."
))
UNREADABLE = Problem(gettext_noop("The message could not be read; only its headers are shown."))
UNKNOWN_CHARSET = gettext_noop(
    "Unknown character set {charset}; the text is shown as UTF-8 and some characters may be wrong."
)
BAD_ENCODING = Problem(gettext_noop(
    "Part of the message is damaged (bad base64 encoding); it may be incomplete."
))
TEXT_CUT = Problem(gettext_noop("The message text is very long; only its beginning is shown."))
SENDER_UNREADABLE = Problem(gettext_noop(
    "The sender's address could not be read; it is shown exactly as written."
))
PART_MISSING = gettext_noop("The attached message {part} was not found in this message.")

# What cutting a message short does to any message (see message_parse's `truncated`).
_CUT_PROBLEMS = frozenset({DAMAGED, BAD_ENCODING})

_STRUCTURE_DEFECTS = (
    errors.StartBoundaryNotFoundDefect,
    errors.CloseBoundaryNotFoundDefect,
    errors.FirstHeaderLineIsContinuationDefect,
    errors.MisplacedEnvelopeHeaderDefect,
    errors.MissingHeaderBodySeparatorDefect,
    errors.MultipartInvariantViolationDefect,
)
_ENCODING_DEFECTS = (
    errors.InvalidBase64CharactersDefect,
    errors.InvalidBase64PaddingDefect,
    errors.InvalidBase64LengthDefect,
)
_MESSAGE_TYPES = ("message/rfc822", "message/global")
_PART_ID = re.compile(r"[1-9][0-9]{0,5}(?:\.[1-9][0-9]{0,5}){0,40}")
_CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
_HEADER_NAME = re.compile(rb"[!-9;-~]{1,76}")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_BOUNDARY_PARAM = re.compile(rb'(?i)boundary[ \t]*=[ \t]*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))')
_DELIMITER_LINE = re.compile(rb"(?m)^--([^\r\n]{0,200})")
_CID_REFERENCE = re.compile(r"""(?i)cid:([^\s"'()<>]+)""")


# --- The email package, on a leash ----------------------------------------------------


class _BoundedPolicy(EmailPolicy):
    """policy.default, except that a header value is shortened before the header parser
    sees it, and a value it cannot parse reads as empty instead of raising.

    CPython's parser of structured headers is quadratic in the number of parameters
    (python/cpython#87075, #136063: 30,000 ";" take seconds) and recurses on nested
    comments; the feed parser asks for Content-Type of every part while parsing.
    """

    def header_fetch_parse(self, name, value):
        if hasattr(value, "name"):
            return value
        return _parsed_header(name, _bounded_header(value))


@functools.lru_cache(maxsize=1024)
def _parsed_header(name: str, value: str):
    """The parsed header object. Cached because the feed parser and the walk ask for the
    same Content-Type of every part several times, and the objects are immutable."""
    try:
        return EmailPolicy.header_fetch_parse(_POLICY, name, value)
    except Exception:
        return EmailPolicy.header_fetch_parse(_POLICY, name, "")


def _bounded_header(value: str) -> str:
    if len(value) <= MAX_PARAM_HEADER and value.count(";") <= MAX_PARAMS:
        return value
    params = [p for p in value[: MAX_PARAM_HEADER * 4].split(";") if p.strip()]
    return ";".join(params[: MAX_PARAMS + 1])[:MAX_PARAM_HEADER]


_POLICY = _BoundedPolicy()


def _guarded(default, function, *args):
    try:
        return function(*args)
    except Exception:
        return default


def _content_type(entity: Message) -> str:
    value = _guarded("", entity.get_content_type).lower()
    return value if _CONTENT_TYPE.fullmatch(value) else "application/octet-stream"


def _disposition(entity: Message) -> str | None:
    value = _guarded(None, entity.get_content_disposition)
    return value.lower() if isinstance(value, str) else None


def _param(entity: Message, name: str) -> str | None:
    value = _guarded(None, entity.get_param, name)
    if isinstance(value, tuple):  # RFC 2231 (charset, language, text)
        value = _guarded(None, collapse_rfc2231_value, value)
    return value if isinstance(value, str) else None


def _filename(entity: Message) -> str | None:
    value = _guarded(None, entity.get_filename)
    return value if isinstance(value, str) else None


def _raw_headers(entity: Message) -> list[tuple[str, bytes]]:
    """The header fields as the message holds them, values as raw bytes: our own
    decoding (headers.py) then reads them, not the email package's header parser."""
    items = []
    for name, value in _guarded([], lambda: list(entity.raw_items())):
        if isinstance(value, str):
            items.append((str(name), value.encode("utf-8", "surrogateescape")))
    return items


def _content_id(entity: Message) -> str | None:
    for name, value in _raw_headers(entity):
        if name.lower() == "content-id":
            cid = header_text(value, limit=250).strip().strip("<>").strip()
            return cid or None
    return None


def _kind(entity: Message) -> str:
    """What the walk makes of an entity: "multipart" (it has parts), "message" (an attached
    message to number into), or "leaf" (content, including anything the parser could not
    split)."""
    if entity.is_multipart():  # the parser made a list of parts (no decoding involved)
        payload = entity.get_payload()
        content_type = _content_type(entity)
        if content_type.startswith("multipart/"):
            return "multipart"
        if content_type in _MESSAGE_TYPES and payload and isinstance(payload[0], Message):
            return "message"
    return "leaf"


def _children(entity: Message) -> list[Message]:
    return [c for c in entity.get_payload() if isinstance(c, Message)]


def _encapsulated(entity: Message | None) -> Message | None:
    if entity is None or _kind(entity) != "message":
        return None
    return entity.get_payload()[0]


def _join(base: str, index: int) -> str:
    return f"{base}.{index}" if base else str(index)


def _message_entities(message: Message, base: str) -> list[tuple[str, Message]]:
    """The numbered body entities of a message: its parts when it is multipart, else its
    own body as part base.1."""
    if _kind(message) == "multipart":
        return [(_join(base, i), c) for i, c in enumerate(_children(message), 1)]
    return [(_join(base, 1), message)]


def _payload_bytes(entity: Message, walk: _Walk | None = None) -> bytes:
    """The part's content with its transfer encoding undone."""
    if entity.is_multipart():  # a list of header blocks, e.g. message/delivery-status
        return _entity_body_bytes(entity)
    data = _guarded(b"", entity.get_payload, None, True)
    if walk is not None and any(isinstance(d, _ENCODING_DEFECTS) for d in entity.defects):
        walk.note(BAD_ENCODING)
    return data if isinstance(data, bytes) else b""


def _message_bytes(message: Message) -> bytes:
    """An attached message written out as a .eml file with CRLF line ends.

    Written by us rather than by email.generator: its generator re-decodes 8-bit text
    of broken parts into U+FFFD and then cannot encode it, and it refolds headers, which
    is where CPython's serialiser has had infinite loops (python/cpython#138223). Here
    each header goes out as it came in, and each body as its transfer encoding has it.
    """
    out: list[bytes] = []
    try:
        _write_entity(message, out, 0)
    except Exception as exc:
        _log_failure("writing an attached message", exc)
    return b"".join(out)


def _entity_body_bytes(entity: Message) -> bytes:
    out: list[bytes] = []
    try:
        _write_body(entity, out, 0)
    except Exception as exc:
        _log_failure("writing a message part", exc)
    return b"".join(out)


_LINE_ENDS = re.compile(rb"\r\n|\r|\n")
_ENCODED_CTE = ("base64", "quoted-printable", "x-uuencode", "uuencode", "uue", "x-uue")


def _crlf(data: bytes) -> bytes:
    return _LINE_ENDS.sub(b"\r\n", data)


def _write_entity(entity: Message, out: list[bytes], depth: int) -> None:
    for name, value in _raw_headers(entity):
        out.append(name.encode("ascii", "replace") + b": " + _crlf(value) + b"\r\n")
    out.append(b"\r\n")
    _write_body(entity, out, depth)


def _write_body(entity: Message, out: list[bytes], depth: int) -> None:
    if not entity.is_multipart():
        out.append(_raw_body(entity))
        return
    if depth >= MAX_DEPTH * 2:  # deeper than anything the walk would have indexed
        return
    children = _children(entity)
    if not _content_type(entity).startswith("multipart/"):
        # message/*: the encapsulated message, or the header blocks of a delivery status
        for child in children:
            _write_entity(child, out, depth + 1)
        return
    boundary = _guarded(None, entity.get_boundary) or "postfach-boundary"
    delimiter = b"--" + boundary.encode("utf-8", "surrogateescape")
    if entity.preamble:
        out.append(_crlf(entity.preamble.encode("utf-8", "surrogateescape")) + b"\r\n")
    for child in children:
        out.append(delimiter + b"\r\n")
        _write_entity(child, out, depth + 1)
        out.append(b"\r\n")  # the line end before a delimiter belongs to the delimiter
    out.append(delimiter + b"--\r\n")
    if entity.epilogue:
        out.append(_crlf(entity.epilogue.encode("utf-8", "surrogateescape")))


def _raw_body(entity: Message) -> bytes:
    """The body as its transfer encoding has it (base64 stays base64)."""
    cte = str(_guarded("", entity.get, "content-transfer-encoding", "")).strip().lower()
    if cte in _ENCODED_CTE:
        text = _guarded("", entity.get_payload)
        data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else b""
    else:
        # for 7bit, 8bit and binary, "decoding" gives back the raw bytes
        data = _guarded(b"", entity.get_payload, None, True) or b""
    return data if cte == "binary" else _crlf(data)


# --- The walk --------------------------------------------------------------------------


@dataclass
class _Walk:
    index: dict[str, Message] = field(default_factory=dict)  # section number -> entity
    too_deep: set[str] = field(default_factory=set)  # numbers left out for their depth
    problems: list[str] = field(default_factory=list)

    def note(self, problem: str) -> None:
        if problem not in self.problems and len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)

    def defects(self, entity: Message) -> None:
        found = getattr(entity, "defects", ())
        if any(isinstance(d, errors.NoBoundaryInMultipartDefect) for d in found):
            self.note(NO_BOUNDARY)  # says all there is to say about this entity
        elif any(isinstance(d, _STRUCTURE_DEFECTS) for d in found):
            self.note(DAMAGED)


def _part_index(message: Message, walk: _Walk) -> None:
    """Numbers every entity within the bounds. Breadth-first over attached messages, so
    the parts of the outer message are numbered before those of messages inside it."""
    queue: deque[tuple[Message, str, int]] = deque([(message, "", 0)])
    while queue:
        current, base, depth = queue.popleft()
        stack = [(n, e, depth + 1) for n, e in reversed(_message_entities(current, base))]
        while stack:
            number, entity, level = stack.pop()
            if level > MAX_DEPTH:
                walk.too_deep.add(number)
                continue
            if len(walk.index) >= MAX_PARTS:
                return
            walk.index[number] = entity
            kind = _kind(entity)
            if kind == "multipart":
                children = list(enumerate(_children(entity), 1))
                stack.extend((_join(number, i), c, level + 1) for i, c in reversed(children))
            elif kind == "message":
                queue.append((entity.get_payload()[0], number, level))


@dataclass
class _Chunk:
    """One piece of body text in reading order: plain text, HTML, or both (the two
    versions of a multipart/alternative)."""

    plain: str | None = None
    html: str | None = None


@dataclass
class _Body:
    chunks: list[_Chunk] = field(default_factory=list)
    attachments: list[PartInfo] = field(default_factory=list)

    def add(self, other: _Body) -> None:
        self.chunks.extend(other.chunks)
        self.attachments.extend(other.attachments)


def _render_message(message: Message, base: str, walk: _Walk) -> _Body:
    walk.defects(message)
    if _kind(message) == "multipart":
        return _render_multipart(message, base, walk)
    number = _join(base, 1)
    if walk.index.get(number) is not message:
        walk.note(TOO_DEEP if number in walk.too_deep else TOO_MANY_PARTS)
        return _Body()
    return _render_leaf(message, number, walk, as_attachment=False)


def _render(entity: Message, number: str, walk: _Walk, *, as_attachment: bool) -> _Body:
    walk.defects(entity)
    if _kind(entity) == "multipart":
        return _render_multipart(entity, number, walk, as_attachment=as_attachment)
    return _render_leaf(entity, number, walk, as_attachment=as_attachment)


def _render_multipart(
    entity: Message, number: str, walk: _Walk, *, as_attachment: bool = False
) -> _Body:
    children = []
    for i, child in enumerate(_children(entity), 1):
        child_number = _join(number, i)
        if walk.index.get(child_number) is child:
            children.append((child_number, child))
        else:
            walk.note(TOO_DEEP if child_number in walk.too_deep else TOO_MANY_PARTS)
    subtype = _content_type(entity).partition("/")[2]
    if as_attachment:
        subtype = "mixed"
    if subtype == "alternative":
        return _render_alternative(children, walk)
    if subtype == "related":
        return _render_related(entity, children, walk)
    body = _Body()
    for child_number, child in children:
        body.add(_render(child, child_number, walk, as_attachment=as_attachment))
    return body


def _render_alternative(children: list[tuple[str, Message]], walk: _Walk) -> _Body:
    """The last HTML version and the last plain-text version (RFC 2046: the last is the
    richest), as one chunk. Versions not chosen add only their attachments, e.g. the
    text/calendar of an invitation."""
    rendered = [_render(child, n, walk, as_attachment=False) for n, child in children]
    html_choice = plain_choice = None
    for i, body in enumerate(rendered):
        if any(c.html is not None for c in body.chunks):
            html_choice = i
        elif any(c.plain is not None for c in body.chunks):
            plain_choice = i
    result = _Body()
    for body in rendered:
        result.attachments.extend(body.attachments)
    if html_choice is None and plain_choice is None:
        return result
    html_chunks = rendered[html_choice].chunks if html_choice is not None else []
    plain_chunks = rendered[plain_choice].chunks if plain_choice is not None else html_chunks
    result.chunks.append(_Chunk(plain=_plain_join(plain_chunks), html=_html_join(html_chunks)))
    return result


def _render_related(entity: Message, children: list[tuple[str, Message]], walk: _Walk) -> _Body:
    """The root part (named by `start`, else the first) is the body; the others are the
    resources it refers to by cid:, listed as attachments."""
    if not children:
        return _Body()
    start = (_param(entity, "start") or "").strip().strip("<>")
    root = 0
    if start:
        root = next((i for i, (_, c) in enumerate(children) if _content_id(c) == start), 0)
    body = _Body()
    for i, (child_number, child) in enumerate(children):
        body.add(_render(child, child_number, walk, as_attachment=i != root))
    return body


def _render_leaf(entity: Message, number: str, walk: _Walk, *, as_attachment: bool) -> _Body:
    kind = _kind(entity)
    if kind == "message":
        return _Body(attachments=[_part_info(entity, number, walk)])
    content_type = _content_type(entity)
    if content_type.startswith("multipart/"):
        # The parser could not split it (no boundary, or the boundary never appears):
        # the best we can do is show what is there.
        if NO_BOUNDARY not in walk.problems:
            walk.note(DAMAGED)
        return _Body(chunks=[_Chunk(plain=_text(entity, walk))])
    disposition = _disposition(entity)
    is_body_text = (
        not as_attachment
        and content_type in ("text/plain", "text/html")
        and disposition != "attachment"
        and (disposition == "inline" or _filename(entity) is None)
    )
    if not is_body_text:
        return _Body(attachments=[_part_info(entity, number, walk)])
    text = _text(entity, walk)
    if content_type == "text/html":
        return _Body(chunks=[_Chunk(html=text)])
    return _Body(chunks=[_Chunk(plain=text)])


_BODY_CONTROLS = {0: "\ufffd", 0xFEFF: None}
_SURROGATES = re.compile("[\ud800-\udfff]")


def _text(entity: Message, walk: _Walk) -> str:
    data = _payload_bytes(entity, walk)
    charset = _param(entity, "charset")
    text, known = charset_decode(data, charset)
    if not known:
        walk.note(Problem(UNKNOWN_CHARSET, charset=header_text(charset, limit=40) or "?"))
    if len(text) > MAX_BODY_CHARS:
        text = text[:MAX_BODY_CHARS]
        walk.note(TEXT_CUT)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # NUL cannot be stored or rendered safely; lone surrogates cannot be encoded.
    return _SURROGATES.sub("\ufffd", text).translate(_BODY_CONTROLS)


def _part_info(entity: Message, number: str, walk: _Walk) -> PartInfo:
    content_type = _content_type(entity)
    inner = _encapsulated(entity)
    if inner is not None:
        size = len(_message_bytes(inner))
    else:
        size = len(_payload_bytes(entity, walk))
    return PartInfo(
        part_id=number,
        filename=_part_filename(entity, inner, content_type, number),
        content_type=content_type,
        size=size,
        content_id=_content_id(entity),
        inline=False,
        is_message=inner is not None,
    )


def _part_filename(entity: Message, inner: Message | None, content_type: str, number: str) -> str:
    name = _filename(entity)
    if not name and inner is not None:
        subject = _first(_raw_headers(inner), "subject")
        name = header_text(subject, limit=100)
        name = f"{name}.eml" if name else None
    return filename_display(name, content_type, number)


def _plain_join(chunks: list[_Chunk]) -> str | None:
    texts = [c.plain for c in chunks if c.plain is not None]
    return "\n\n".join(texts) if texts else None


def _html_join(chunks: list[_Chunk]) -> str | None:
    """The HTML of several chunks in reading order. A plain-text chunk among HTML ones
    (a mailing list footer after an HTML message) joins as escaped preformatted text;
    the result still goes through the sanitizer like any mail HTML."""
    if not any(c.html is not None for c in chunks):
        return None
    pieces = []
    for chunk in chunks:
        if chunk.html is not None:
            pieces.append(chunk.html)
        elif chunk.plain is not None:
            pieces.append(f"<pre>{html.escape(chunk.plain)}</pre>")
    return "\n".join(pieces)


def _mark_inline(attachments: list[PartInfo], html_body: str | None) -> list[PartInfo]:
    """A part is inline when the HTML refers to its Content-ID; other parts with a
    Content-ID stay in the list of attachments, so nothing is hidden."""
    if not html_body:
        return attachments
    referenced = {unquote(m) for m in _CID_REFERENCE.findall(html_body)}
    return [
        replace(a, inline=True) if a.content_id and a.content_id in referenced else a
        for a in attachments
    ]


# --- Headers without the parser --------------------------------------------------------


def _header_block(raw: bytes) -> bytes:
    head = raw[:MAX_HEADER_BLOCK]
    if head.startswith((b"\r\n", b"\n")):
        return b""
    match = _HEADER_END.search(head)
    if match:
        return head[: match.start()]
    if len(raw) > MAX_HEADER_BLOCK:  # cut inside a line: drop that line
        head = head[: max(head.rfind(b"\n"), 0)]
    return head


def _header_fields(raw: bytes) -> list[tuple[str, bytes]]:
    """The top header fields, read by a bounded reader of our own: used when the message
    is not given to the email package at all."""
    fields: list[tuple[str, list[bytes]]] = []
    for line in _header_block(raw).splitlines():
        if line[:1] in (b" ", b"\t"):
            if fields:
                fields[-1][1].append(line)
            continue
        name, colon, value = line.partition(b":")
        name = name.strip()
        if colon and _HEADER_NAME.fullmatch(name):
            if len(fields) >= MAX_HEADERS:
                break
            fields.append((name.decode("ascii"), [value]))
        elif not fields and line.startswith(b"From "):
            continue  # an mbox envelope line
        else:
            break  # not a header: the body starts here
    return [(name, b"\r\n".join(values)) for name, values in fields]


def _first(fields: list[tuple[str, bytes]], name: str) -> bytes | None:
    return next((v for n, v in fields if n.lower() == name), None)


def _all(fields: list[tuple[str, bytes]], name: str) -> bytes | None:
    values = [v for n, v in fields if n.lower() == name]
    return b", ".join(values) if values else None


def _summary(fields: list[tuple[str, bytes]], problems: list[str]) -> ParsedMessage:
    from_ = address_list(_all(fields, "from"))
    if any(not a.addr for a in from_):
        problems.insert(0, SENDER_UNREADABLE)
    return ParsedMessage(
        subject=header_text(_first(fields, "subject")),
        from_=from_,
        to=address_list(_all(fields, "to")),
        cc=address_list(_all(fields, "cc")),
        reply_to=address_list(_all(fields, "reply-to")),
        date=header_date(_first(fields, "date")),
        message_id=header_text(_first(fields, "message-id"), limit=998),
        text_body=None,
        html_body=None,
        problems=problems,
    )


# --- The gate --------------------------------------------------------------------------


def _gate(raw: bytes, max_bytes: int) -> str | None:
    """Why the message must not be given to the email package, or None."""
    if len(raw) > max_bytes:
        return Problem(TOO_LARGE, size=_size_text(len(raw)))
    if raw.count(b"\n") > MAX_LINES:
        return TOO_COMPLEX
    if raw.count(b"\n--") > MAX_BOUNDARY_LINES and _boundary_lines(raw) > MAX_BOUNDARY_LINES:
        return TOO_COMPLEX
    return None


def _boundary_lines(raw: bytes) -> int:
    """Lines that start with "--" and a boundary some Content-Type declares. Run only
    when there are many "--" lines at all (SQL dumps and logs have them too)."""
    boundaries = set()
    for match in _BOUNDARY_PARAM.finditer(raw):
        boundaries.add((match.group(1) or match.group(2)).rstrip())
        if len(boundaries) > MAX_BOUNDARY_LINES:
            return len(boundaries)
    count = 0
    for match in _DELIMITER_LINE.finditer(raw):
        token = match.group(1).rstrip()
        if token in boundaries or (token.endswith(b"--") and token[:-2] in boundaries):
            count += 1
            if count > MAX_BOUNDARY_LINES:
                break
    return count


def _size_text(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


# --- Public API ------------------------------------------------------------------------


def message_parse(
    raw: bytes, *, part: str | None = None, max_bytes: int = MAX_BYTES, truncated: bool = False
) -> ParsedMessage:
    """What the reading page shows of `raw`, or of the message attached as `part` (an
    IMAP section number such as "2" or "3.2"). Never raises; what could not be shown is
    described in `problems`. The HTML body is NOT sanitized.

    `truncated` says `raw` is only the beginning of a message too large to fetch whole.
    Its headers and text are shown as far as they go; no attachment is listed, since any
    of them may be cut short and none can be taken from a beginning (message_part); and
    the damage the cut itself does (a missing closing boundary, base64 cut mid-line) is
    not reported as a problem of the message. The result says `truncated` too.
    """
    raw = _as_bytes(raw)
    try:
        parsed = _message_parse(raw, part, max_bytes)
    except RecursionError:
        parsed = _headers_only(raw, part, TOO_DEEP_TO_READ)
    except Exception as exc:
        _log_failure("parsing a message", exc)
        parsed = _headers_only(raw, part, UNREADABLE)
    if truncated:
        parsed.truncated = True
        parsed.attachments = []
        parsed.problems = [p for p in parsed.problems if p not in _CUT_PROBLEMS]
    return parsed


def message_part(raw: bytes, part_id: str, *, max_bytes: int = MAX_BYTES) -> PartContent | None:
    """The decoded content of one part (an attached message comes as a whole .eml), with
    a safe file name; None when there is no such part, it is a multipart container, or
    the message is past the bounds message_parse shows."""
    raw = _as_bytes(raw)
    if not isinstance(part_id, str) or not _PART_ID.fullmatch(part_id):
        return None
    try:
        if _gate(raw, max_bytes):
            return None
        walk = _Walk()
        _part_index(BytesParser(policy=_POLICY).parsebytes(raw), walk)
        entity = walk.index.get(part_id)
        if entity is None or _kind(entity) == "multipart":
            return None
        content_type = _content_type(entity)
        inner = _encapsulated(entity)
        data = _message_bytes(inner) if inner is not None else _payload_bytes(entity)
        return PartContent(
            part_id=part_id,
            filename=_part_filename(entity, inner, content_type, part_id),
            content_type=content_type,
            data=data,
        )
    except RecursionError:
        return None
    except Exception as exc:
        _log_failure("reading a message part", exc)
        return None


def message_headers(raw: bytes) -> list[tuple[str, str]]:
    """Every top-level header field as (name, decoded value), in order, for an "all
    headers" view; at most MAX_HEADERS fields from the first MAX_HEADER_BLOCK bytes."""
    try:
        return [(name, header_text(value)) for name, value in _header_fields(_as_bytes(raw))]
    except Exception as exc:
        _log_failure("reading message headers", exc)
        return []


def _message_parse(raw: bytes, part: str | None, max_bytes: int) -> ParsedMessage:
    refusal = _gate(raw, max_bytes)
    if refusal:
        parsed = _headers_only(raw, part, refusal)
        parsed.too_large = True
        return parsed
    message = BytesParser(policy=_POLICY).parsebytes(raw)
    walk = _Walk()
    _part_index(message, walk)
    base = ""
    if part is not None:
        inner = _encapsulated(walk.index.get(part)) if _PART_ID.fullmatch(part) else None
        if inner is None:
            return _empty(Problem(PART_MISSING, part=header_text(part, limit=40)))
        message, base = inner, part
    body = _render_message(message, base, walk)
    parsed = _summary(_raw_headers(message), walk.problems)
    parsed.html_body = _html_join(body.chunks)
    parsed.text_body = _plain_join(body.chunks)
    parsed.attachments = _mark_inline(body.attachments, parsed.html_body)
    return parsed


def _headers_only(raw: bytes, part: str | None, problem: str) -> ParsedMessage:
    if part is not None:  # the attached message's headers are inside the unread part
        return _empty(problem)
    try:
        return _summary(_header_fields(raw), [problem])
    except Exception as exc:
        _log_failure("reading message headers", exc)
        return _empty(problem)


def _empty(problem: str) -> ParsedMessage:
    return ParsedMessage(
        subject="",
        from_=[],
        to=[],
        cc=[],
        reply_to=[],
        date=None,
        message_id="",
        text_body=None,
        html_body=None,
        problems=[problem],
    )


def _as_bytes(raw) -> bytes:
    if isinstance(raw, bytes):
        return raw
    if isinstance(raw, (bytearray, memoryview)):
        return bytes(raw)
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return b""


def _log_failure(doing: str, exc: BaseException) -> None:
    # Where it failed, never what the message said: mail content stays out of logs.
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    where = f"{frame.tb_frame.f_code.co_filename}:{frame.tb_lineno}" if frame else "?"
    logger.warning("MIME: %s failed with %s at %s", doing, type(exc).__name__, where)
