"""Header values made safe to show: decoded, unfolded, stripped of controls, and capped.

Everything here takes what a message or an IMAP server hands over (str or bytes, often
broken, sometimes hostile) and never raises. The MIME parser uses it for the headers of
a message, and the IMAP client for subjects and addresses from ENVELOPE and
HEADER.FIELDS fetches, so both show a header the same way.

Charsets are decoded through one table of labels (`charset_decode`), modelled on the
WHATWG Encoding Standard that browsers follow, so mail reads the way it would in any
other mail client on the web.
"""

from __future__ import annotations

import binascii
import codecs
import re
import unicodedata
from datetime import UTC, datetime
from email.utils import getaddresses, parsedate_to_datetime

from webmail.protocols.store import Address

HEADER_LIMIT = 2000  # characters shown of any one header; longer ones end in "…"
NAME_LIMIT = 256  # characters of a display name
ADDRESS_LIMIT = 998  # characters of an addr-spec (a whole header line may be no longer)
MAX_ADDRESSES = 1000  # mailboxes taken from one address header
_ADDRESS_TEXT_LIMIT = 64 * 1024  # raw characters of an address header that are parsed
_MAX_COMMENT_DEPTH = 20  # nested "(" in an address header; CPython recurses on each one

ELLIPSIS = "…"

# --- Charsets --------------------------------------------------------------------------

# Labels a message may name, normalised by _label(), mapped to a Python codec. An
# allow-list rather than codecs.lookup(label): Python also knows codecs that are not
# character sets ("unicode_escape", "punycode", "idna"), and its codec registry caches
# every unknown name it is asked about, which hostile mail could grow without bound.
_CHARSETS: dict[str, str] = {}

# The labels that promise nothing beyond ASCII. Mail that says us-ascii (or nothing) but
# carries 8-bit text is nearly always UTF-8 from a careless client, else windows-1252.
_SNIFF = "utf-8 else windows-1252"


def _label(charset: str) -> str:
    return charset.strip().strip("\"'").strip().lower().replace("_", "-").replace(" ", "-")


def _add(codec: str, *labels: str) -> None:
    for label in labels:
        _CHARSETS[_label(label)] = codec


_add(
    _SNIFF,
    "us-ascii",
    "ascii",
    "ansi_x3.4-1968",
    "ansi_x3.4-1986",
    "iso646-us",
    "iso-ir-6",
    "csascii",
    "us",
    "ibm367",
    "cp367",
    "646",
    "unknown-8bit",  # RFC 1428: "we do not know"
    "x-unknown",
    "8bit",
)
_add(
    "utf-8",
    "utf-8",
    "utf8",
    "unicode-1-1-utf-8",
    "unicode11utf8",
    "unicode20utf8",
    "x-unicode20utf8",
)
# WHATWG: iso-8859-1 and latin1 mean windows-1252. Senders label windows-1252 text as
# latin1 all the time, and decoding 0x80-0x9F as C1 controls would lose € and quotes.
_add(
    "cp1252",
    "iso-8859-1",
    "iso8859-1",
    "iso88591",
    "iso_8859-1:1987",
    "iso-ir-100",
    "latin1",
    "l1",
    "cp819",
    "ibm819",
    "csisolatin1",
    "windows-1252",
    "x-cp1252",
    "cp1252",
)
for _n in (2, 3, 4, 5, 6, 7, 8, 10, 13, 14, 15, 16):
    _add(f"iso8859_{_n}", f"iso-8859-{_n}", f"iso8859-{_n}", f"iso8859{_n}", f"iso-8859{_n}")
_add("iso8859_8", "iso-8859-8-i", "iso-8859-8-e", "csiso88598i", "logical", "visual", "hebrew")
_add("iso8859_2", "latin2", "l2", "csisolatin2")
_add("iso8859_3", "latin3", "l3")
_add("iso8859_4", "latin4", "l4")
_add("iso8859_5", "cyrillic", "csisolatincyrillic")
_add("iso8859_6", "arabic", "csisolatinarabic", "asmo-708", "ecma-114")
_add("iso8859_7", "greek", "greek8", "elot_928", "ecma-118", "csisolatingreek")
_add("iso8859_10", "latin6", "l6")
_add("iso8859_15", "latin9", "l9", "iso_8859-15", "csisolatin9")
_add("iso8859_16", "latin10", "l10")
# WHATWG maps these ISO sets onto their Windows supersets.
_add("cp1254", "iso-8859-9", "iso8859-9", "iso88599", "latin5", "l5", "csisolatin5")
_add("cp874", "iso-8859-11", "iso8859-11", "tis-620", "dos-874", "windows-874", "cp874")
for _n in range(1250, 1259):
    _add(f"cp{_n}", f"windows-{_n}", f"cp{_n}", f"x-cp{_n}", f"win-{_n}")
_add("koi8_r", "koi8-r", "koi8r", "koi8", "cskoi8r", "koi")
_add("koi8_u", "koi8-u", "koi8-ru")
_add("cp866", "ibm866", "cp866", "866", "csibm866")
_add("cp850", "ibm850", "cp850", "850")
_add("cp437", "ibm437", "cp437", "437")
_add("mac_roman", "macintosh", "mac", "x-mac-roman", "csmacintosh")
_add("mac_cyrillic", "x-mac-cyrillic", "x-mac-ukrainian")
# Chinese, Japanese and Korean labels decode with the supersets browsers use.
_add(
    "gb18030",
    "gb18030",
    "gbk",
    "x-gbk",
    "gb2312",
    "gb_2312",
    "gb_2312-80",
    "csgb2312",
    "chinese",
    "euc-cn",
    "cp936",
    "ms936",
    "windows-936",
    "iso-ir-58",
)
_add("hz", "hz-gb-2312")
_add("big5hkscs", "big5", "big5-hkscs", "cn-big5", "csbig5", "x-x-big5", "cp950")
_add("euc_jp", "euc-jp", "x-euc-jp", "cseucpkdfmtjapanese")
_add("iso2022_jp_2", "iso-2022-jp", "csiso2022jp", "iso-2022-jp-2")
_add("iso2022_jp_3", "iso-2022-jp-3")
_add("iso2022_kr", "iso-2022-kr", "csiso2022kr")
_add(
    "cp932",
    "shift_jis",
    "shift-jis",
    "sjis",
    "x-sjis",
    "ms_kanji",
    "ms932",
    "csshiftjis",
    "windows-31j",
    "cp932",
)
_add(
    "cp949",
    "euc-kr",
    "cseuckr",
    "ks_c_5601-1987",
    "ks_c_5601-1989",
    "ksc5601",
    "ksc_5601",
    "korean",
    "iso-ir-149",
    "csksc56011987",
    "windows-949",
    "cp949",
)
_add("utf_16", "utf-16", "ucs-2", "iso-10646-ucs-2", "csunicode")
_add("utf_16_le", "utf-16le", "unicodefffe")
_add("utf_16_be", "utf-16be")
_add("utf_32", "utf-32")
_add("utf_32_le", "utf-32le")
_add("utf_32_be", "utf-32be")
# Browsers refuse UTF-7 because they used to sniff it inside pages. Here the text is
# decoded before the sanitizer sees it, so that attack does not apply, and real mail
# (RFC 2152) does use it now and then.
_add("utf_7", "utf-7", "unicode-1-1-utf-7", "csunicode11utf7")


def charset_known(charset: str | None) -> bool:
    """Whether `charset` is a label charset_decode understands (None counts as known)."""
    return charset is None or _label(charset) in _CHARSETS


def charset_decode(data: bytes, charset: str | None) -> tuple[str, bool]:
    """Decodes `data` declared as `charset`; returns the text and whether the label was
    understood. Never raises. Bytes the charset does not define become U+FFFD."""
    codec = _CHARSETS.get(_label(charset)) if charset is not None else _SNIFF
    if codec is None:
        # An unknown label is most often a misspelt UTF-8 or a private name for it.
        # Showing mostly right text with a few U+FFFD beats showing nothing; the
        # caller notes that the label was not understood.
        return data.decode("utf-8", "replace"), False
    if codec == _SNIFF:
        return _utf8_else_cp1252(data), True
    try:
        return data.decode(codec, "replace"), True
    except Exception:  # a codec that fails even with errors="replace"
        return data.decode("utf-8", "replace"), True


def _utf8_else_cp1252(data: bytes, *, final: bool = True) -> str:
    try:
        if final:
            return data.decode("utf-8")
        # A cut-off buffer may end inside a character; that tail is dropped, not fatal.
        return codecs.getincrementaldecoder("utf-8")().decode(data, final=False)
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


# --- Text cleaning ---------------------------------------------------------------------

_BIDI_CONTROLS = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x2070)]
# C0 and C1 controls, DEL, bidi controls, BOM and interlinear annotation marks disappear;
# whitespace controls and the Unicode line separators become spaces.
_STRIP_CONTROLS = {
    **dict.fromkeys([*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)], None),
    **dict.fromkeys([*_BIDI_CONTROLS, 0xFEFF, 0xFFF9, 0xFFFA, 0xFFFB], None),
    **dict.fromkeys([0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x85, 0x2028, 0x2029], " "),
}
_SURROGATES = re.compile("[\ud800-\udfff]")
_WHITESPACE = re.compile(r"\s+")
_FOLD = re.compile(r"\r?\n(?=[ \t])")


def controls_strip(text: str) -> str:
    """`text` without control, bidi and other invisible formatting characters; line
    breaks and tabs become spaces. Lone surrogates become U+FFFD."""
    return _SURROGATES.sub("\ufffd", text).translate(_STRIP_CONTROLS)


def _as_text(value: str | bytes | None, cap: int) -> str:
    """The header value as text, at most about `cap` characters, before any RFC 2047
    decoding. Raw 8-bit bytes are read as UTF-8, else windows-1252."""
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        if len(data) > cap:
            return _utf8_else_cp1252(data[:cap], final=False)
        return _utf8_else_cp1252(data)
    if not isinstance(value, str):
        value = str(value)
    value = value[:cap]
    if _SURROGATES.search(value):
        # The email package hands out raw 8-bit header bytes as surrogate escapes.
        try:
            return _utf8_else_cp1252(value.encode("utf-8", "surrogateescape"))
        except UnicodeEncodeError:
            return _SURROGATES.sub("\ufffd", value)
    return value


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + ELLIPSIS


# --- RFC 2047 encoded words ------------------------------------------------------------

# =?charset[*language]?B|Q?text?=  -- the text may not contain "?", which keeps the
# pattern linear; spaces are allowed because careless encoders leave them in.
_ENCODED_WORD = re.compile(r"=\?([^?\s*]{1,40})(?:\*[^?\s]{0,20})?\?([bBqQ])\?([^?\r\n]*)\?=")
_Q_HEX = re.compile(rb"=([0-9A-Fa-f]{2})")
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/]")


def _encoded_word_bytes(encoding: str, text: str) -> bytes | None:
    if encoding in "qQ":
        data = text.encode("utf-8").replace(b"_", b" ")
        return _Q_HEX.sub(lambda m: bytes([int(m.group(1), 16)]), data)
    letters = _NOT_BASE64.sub("", text)
    if len(letters) % 4 == 1:  # one stray letter cannot encode anything
        letters = letters[:-1]
    try:
        return binascii.a2b_base64(letters + "=" * (-len(letters) % 4))
    except binascii.Error:
        return None


def encoded_words_decode(text: str) -> str:
    """Decodes RFC 2047 encoded words anywhere in `text`. Whitespace between two encoded
    words is dropped (RFC 2047 section 6.2), and adjacent words in the same charset are
    decoded together so a character split across two words survives. Words in unknown
    charsets are read as UTF-8; malformed words are left as they are."""
    if "=?" not in text:
        return text
    pieces: list[list] = []  # [charset, bytearray] for encoded words, [None, str] for text
    pos = 0
    for match in _ENCODED_WORD.finditer(text):
        between = text[pos : match.start()]
        data = _encoded_word_bytes(match.group(2), match.group(3))
        if data is None:
            pieces.append([None, between + match.group(0)])
            pos = match.end()
            continue
        follows_word = bool(pieces) and pieces[-1][0] is not None
        if between and not (follows_word and between.isspace()):
            pieces.append([None, between])
            follows_word = False
        charset = _label(match.group(1))
        if follows_word and pieces[-1][0] == charset:
            pieces[-1][1] += data
        else:
            pieces.append([charset, bytearray(data)])
        pos = match.end()
    pieces.append([None, text[pos:]])
    out = []
    for charset, content in pieces:
        if charset is None:
            out.append(content)
        else:
            out.append(charset_decode(bytes(content), charset)[0])
    return "".join(out)


# --- Public helpers --------------------------------------------------------------------


def header_text(value: str | bytes | None, *, limit: int = HEADER_LIMIT) -> str:
    """A header value as one line of plain text to show: RFC 2047 words decoded, raw
    8-bit bytes read as UTF-8 (else windows-1252), unfolded, without control or bidi
    characters, whitespace collapsed, at most `limit` characters. Never raises."""
    try:
        text = _as_text(value, limit * 16 + 1024)  # encoded words shrink when decoded
        text = encoded_words_decode(_FOLD.sub("", text))
        text = _WHITESPACE.sub(" ", controls_strip(text)).strip()
        return _cap(text, limit)
    except Exception:  # defensive: this runs on every header of every hostile message
        return ""


def header_date(value: str | bytes | None) -> datetime | None:
    """The Date header as an aware datetime (no zone, or -0000, means UTC); None when it
    cannot be read."""
    text = header_text(value, limit=200)
    if not text:
        return None
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        try:  # a few senders write ISO 8601
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def address_list(value: str | bytes | None, *, limit: int = MAX_ADDRESSES) -> list[Address]:
    """The mailboxes of an address header (From, To, Cc, Reply-To, ...), each with its
    decoded display name and its real addr-spec exactly as written (never decoded, so a
    display name can never stand in for the address).

    When the header cannot be read with confidence -- unbalanced quotes or comments, or
    fewer "@" in the parsed addresses than in the header, which is how CPython's parser
    hides mailboxes (CVE-2023-27043, CVE-2019-16056) -- the result is a single Address
    with the whole header as its name and an empty addr, which the reading page shows as
    "could not be read". Never raises.
    """
    try:
        text = _as_text(value, _ADDRESS_TEXT_LIMIT + 1)
        text = _FOLD.sub("", text)
        text = _SURROGATES.sub("\ufffd", text).translate(_STRIP_CONTROLS)
        if len(text) > _ADDRESS_TEXT_LIMIT:
            # keep whole mailboxes: cut at the last comma before the limit
            cut = text.rfind(",", 0, _ADDRESS_TEXT_LIMIT)
            text = text[: cut if cut > 0 else _ADDRESS_TEXT_LIMIT]
        if not text.strip():
            return []
        pairs = _address_pairs(text)
        if pairs is None:
            return [Address(name=header_text(text, limit=NAME_LIMIT), addr="")]
        result = []
        for name, addr in pairs:
            name = header_text(name, limit=NAME_LIMIT)
            addr = _cap(_WHITESPACE.sub("", addr), ADDRESS_LIMIT)
            if name or addr:
                result.append(Address(name=name, addr=addr))
            if len(result) >= limit:
                break
        return result
    except Exception:  # defensive, as above
        return [Address(name=header_text(value, limit=NAME_LIMIT), addr="")]


_ADDR_FORBIDDEN = re.compile(r'[<>"(),;:\\\s]')


# The common forms, `Name <local@domain>` and `local@domain`, without quotes, comments,
# groups or domain literals: split on commas without CPython's parser, which takes most
# of an initial sync's header time. Anything else goes the long way.
_PLAIN_MAILBOX = re.compile(
    r"\s*(?:([^<>\"(),;:\\@\[\]]*?)\s*<({addr})>|({addr}))\s*".format(
        addr=r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
        r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
    )
)


def _plain_pairs(text: str) -> list[tuple[str, str]] | None:
    """The (name, addr) pairs getaddresses() gives for a header of plain mailboxes only,
    else None."""
    pairs = []
    for piece in text.split(","):
        match = _PLAIN_MAILBOX.fullmatch(piece)
        if match is None:
            return None
        name, addr, bare = match.groups()
        pairs.append(("", bare) if bare else (" ".join(name.split()), addr))
    return pairs


def _address_pairs(text: str) -> list[tuple[str, str]] | None:
    """getaddresses() on `text`, or None when its result cannot be trusted."""
    plain = _plain_pairs(text)
    if plain is not None:
        return plain
    unquoted_at = _unquoted_at_count(text)
    if unquoted_at is None:
        return None
    try:
        pairs = getaddresses([text])
    except Exception:  # RecursionError on nested comments, and whatever else
        return None
    if sum(addr.count("@") for _, addr in pairs) != unquoted_at:
        return None
    for _, addr in pairs:
        # Stray brackets, quotes or spaces in an addr-spec mean the parser lost its way
        # (e.g. '"Bob <bob@x>' becomes addr 'Bob <bob@x>'). Quoted local parts
        # ("john doe"@example.com) end up here too; showing them raw is no loss.
        if _ADDR_FORBIDDEN.search(addr):
            return None
    return [(name, addr) for name, addr in pairs if name or addr]


def _unquoted_at_count(text: str) -> int | None:
    """How many "@" stand outside quoted strings and comments, or None when quotes or
    comments are unbalanced or nested deeper than CPython's parser can take."""
    count = 0
    depth = 0
    quoted = False
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and (quoted or depth):
            escaped = True
        elif quoted:
            quoted = char != '"'
        elif char == "(":
            depth += 1
            if depth > _MAX_COMMENT_DEPTH:
                return None
        elif char == ")":
            depth -= 1
            if depth < 0:
                return None
        elif depth:
            pass
        elif char == '"':
            quoted = True
        elif char == "@":
            count += 1
    if quoted or depth:
        return None
    return count


def name_pretends_address(address: Address) -> bool:
    """Whether a display name holds an address of its own: `"security@paypal.com"
    <attacker@evil.example>` reads as PayPal unless the page says otherwise (security note
    3.8, rule 7; Mailsploit). NFKC folds the full-width and small commercial at (U+FF20,
    U+FE6B) into "@"."""
    return bool(address.addr) and "@" in unicodedata.normalize("NFKC", address.name)
