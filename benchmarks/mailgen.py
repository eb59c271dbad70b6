"""Realistic, seeded mailboxes for benchmarks and tests, written straight into Maildirs.

    from benchmarks.mailgen import folder_names, mailbox_generate, messages

    for message in messages(seed=1, n=10):   # the same ten messages for the same seed
        message.raw, message.flags, message.date, message.kind, message.message_id ...
    mailbox_generate(dovecot, user, folders={"INBOX": 10_000, "Archiv": 500}, seed=1)
    mailbox_generate(dovecot, user, folders=dict.fromkeys(folder_names(20), 50), seed=2)

`dovecot` and `user` are tests/dovecot.py's Dovecot and MailUser (new_mail_user; use
quota="0" for big mailboxes). The folder at position k of `folders` holds exactly
`messages(seed + k, n)`, so a test can regenerate what it put into a folder. The user
must be new, or at least the folders must not be open in another session while we write.

What `messages` yields (shares of all messages, fixed per seed):
- plain text mail, German (about 60%) or English, with umlauts and ß in subjects, names
  and bodies, some quoted-printable;
- replies (about a quarter of the plain mail): "AW: "/"Re: " subjects, In-Reply-To and
  References to an earlier message of the same stream, whose text they quote;
- HTML newsletters (about 20%): multipart/alternative, a short text part and 20-100 KB of
  quoted-printable HTML with layout tables, remote image links and tracking links;
- mail with attachments (about 12%): PDF-like bytes or images (PNG/JPEG signatures, then
  random bytes), 5-300 KB each, base64, some with umlauts in the file name (RFC 2231);
- senders from a pool of names and domains, dates in order over `years` years up to
  `end` (a fixed day, not today, so runs repeat), flags: older mail mostly \\Seen, the
  newest tenth mostly unread, some \\Flagged and \\Answered.
About 22 KB a message on average: 100,000 messages are about 2.2 GB of Maildir.

Why Maildir files rather than APPEND: APPEND goes through one IMAP command per message
(about 1,000/s at best); writing files is bound by the disk, so 100,000 messages take a
minute or two. Each file goes into cur/ named `<date>.M<n>P<seed>.postfach,S=<size>,
W=<vsize>:2,<flags>`: the date in the name makes Dovecot hand out UIDs in date order (it
sorts new files by that time), the date is also the file's mtime, which Dovecot reports
as INTERNALDATE, and S=/W= spare it reading every file for its size. Dovecot writes
dovecot-uidlist and its indexes itself when `mailbox_generate` finally selects each folder.
"""

from __future__ import annotations

import base64
import binascii
import os
import random
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email.header import Header
from email.utils import format_datetime, formataddr
from pathlib import Path

from imapclient import IMAPClient, imap_utf7

END = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)
OWNER = ("Alex Leser", "alex.leser@example.org")  # the mailbox's owner, the usual recipient
CET = timezone(timedelta(hours=1))

# Maildir file-name letters of the IMAP system flags (they must appear sorted).
_FLAG_LETTERS = {"\\Draft": "D", "\\Flagged": "F", "\\Answered": "R", "\\Seen": "S"}

_FOLDERS = [
    "INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive", "Newsletter", "Rechnungen",
    "Projekte", "Projekte/2024", "Projekte/2025", "Familie", "Verein", "Urlaub", "Arbeit",
    "Arbeit/Kunden", "Arbeit/Lieferanten", "Bestellungen", "Behörden", "Reisen",
]  # fmt: skip

FIRST = (
    "Anna Jürgen Carla Dieter Eva Fritz Gisela Hans Ines Jörg Karin Lukas Maria Nils Özlem "
    "Paul Renate Sören Tanja Uwe Valentina Wolfgang Yasemin Zoë Björn Käthe Emily James "
    "Oliver Sophie Daniel Grace"
).split()
LAST = (
    "Schmidt Müller Weiß Schäfer Becker Hoffmann Koch Richter Wolf Krüger Groß Köhler "
    "Jäger Fuchs Schröder Böhm Lange Brandt Yılmaz Nowak Smith Taylor Brown Walsh"
).split()
DOMAINS = (
    "example.org example.com example.net mail.example.de firma.example kanzlei.example "
    "stadtwerke.example verein.example uni.example"
).split()

_DE_OPEN = [
    "Wie besprochen", "Anbei", "Kurz zur Info:", "Leider", "Gestern", "Nächste Woche",
    "Für das Projekt", "Bezüglich der Rechnung", "Zur Übersicht", "Wegen der Änderung",
    "Nach Rücksprache mit Jürgen", "Im Anhang", "Ab sofort", "Zum Glück", "Übrigens",
    "Laut Vertrag", "Seit Montag", "Für die Mitgliederversammlung",
]  # fmt: skip
_DE_MIDDLE = [
    "schicke ich Ihnen die Unterlagen", "müssen wir den Termin verschieben",
    "ist die Lieferung angekommen", "fehlt noch die Bestätigung", "haben wir das Angebot geprüft",
    "würde ich gern über die Größe der Fläche sprechen", "gibt es Neuigkeiten zur Straßensanierung",
    "brauchen wir eine Entscheidung", "ist das Büro geschlossen", "läuft die Frist ab",
    "hat Frau Müller angerufen", "wird die Heizung repariert", "können wir uns im Café treffen",
    "fällt das Training aus", "sind die Karten für das Konzert da", "ändern sich die Öffnungszeiten",
    "steigen die Nebenkosten", "kommt der Handwerker erst später", "ist die Zahlung überfällig",
]  # fmt: skip
_DE_CLOSE = [
    "bis Freitag.", "vor dem Quartalsende.", "wegen der Verspätung der Bahn.",
    "im Rahmen des Vertrags.", "für den Elternabend.", "in Köln.", "in München.",
    "ohne Gewähr.", "zur Kenntnisnahme.", "so schnell wie möglich.", "nach den Ferien.",
    "für die Steuererklärung.", "bei der Versicherung.", "am Donnerstag um 14 Uhr.",
    "in der Geschäftsstelle.", "für das Sommerfest.", "laut Protokoll.",
]  # fmt: skip
_EN_OPEN = [
    "As discussed", "Quick update:", "Unfortunately", "Yesterday", "Next week",
    "For the project", "Regarding the invoice", "Just a reminder:", "Good news:",
    "After talking to Grace", "Attached", "From now on", "By the way",
]  # fmt: skip
_EN_MIDDLE = [
    "we need to move the meeting", "the delivery arrived", "the confirmation is still missing",
    "we reviewed the offer", "the budget needs another look", "the release is on schedule",
    "the office will be closed", "the deadline is coming up", "the report is ready",
    "I would like to discuss the schedule", "the tickets for the concert are here",
    "the contract needs a signature", "the server migration went well",
]  # fmt: skip
_EN_CLOSE = [
    "by Friday.", "before the end of the quarter.", "because of the delay.", "in Berlin.",
    "in London.", "for the next sprint.", "as soon as possible.", "after the holidays.",
    "for the weekly review.", "on Thursday at 2 pm.", "according to the minutes.",
]  # fmt: skip
_DE_SUBJECTS = [
    "Angebot für die Renovierung", "Rechnung Nr. {n}", "Termin am {day}. {month}",
    "Einladung zum Sommerfest", "Änderung der Öffnungszeiten", "Grüße aus {city}",
    "Frage zur Kündigung", "Protokoll der Besprechung", "Urlaubsplanung {year}",
    "Nebenkostenabrechnung {year}", "Übergabe der Schlüssel", "Elternabend Klasse 4b",
    "Mitgliedsbeitrag {year}", "Bestellung {n} versandt", "Straßenfest in der Weststraße",
    "Größere Änderungen am Zeitplan", "Bahnfahrt nach {city}", "Steuererklärung {year}",
]  # fmt: skip
_EN_SUBJECTS = [
    "Offer for the renovation", "Invoice no. {n}", "Meeting on {month} {day}",
    "Weekly report", "Release planning {year}", "Budget review", "Greetings from {city}",
    "Question about the contract", "Minutes of the meeting", "Holiday plans {year}",
]  # fmt: skip
_CITIES = "Köln München Düsseldorf Nürnberg Lübeck Würzburg Berlin Hamburg Zürich Wien".split()
_MONTHS = "Januar Februar März April Mai Juni Juli August September Oktober November Dezember"
_NEWSLETTERS = [
    ("Stadtwerke Köln", "newsletter@stadtwerke.example", "de"),
    ("Bücherwelt", "news@buecherwelt.example", "de"),
    ("Sportverein Grün-Weiß", "info@verein.example", "de"),
    ("Reisebüro Sonnenschein", "angebote@reisen.example", "de"),
    ("Tech Weekly", "digest@techweekly.example", "en"),
    ("The Garden Shop", "offers@garden.example", "en"),
]
_HEADLINES_DE = [
    "Neue Tarife ab {month}", "Die Bestseller der Woche", "Rückblick auf das Turnier",
    "Frühbucher-Rabatt für Südtirol", "Öffnungszeiten über die Feiertage",
    "Gewinnspiel: zwei Karten für das Konzert", "Tipps zum Energiesparen im Büro",
    "Neues aus der Geschäftsstelle", "Unsere Empfehlungen für Übersee",
]  # fmt: skip
_HEADLINES_EN = [
    "Five tools for faster builds", "What changed in {month}", "Spring sale starts now",
    "Interview: open source at scale", "Our picks for the garden", "Release notes roundup",
]  # fmt: skip
_ATTACHMENTS = [
    ("application/pdf", "Rechnung_{n}.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"),
    ("application/pdf", "Angebot_März_{n}.pdf", b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n"),
    ("application/pdf", "report-{n}.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"),
    ("image/jpeg", "Foto_{n}.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"),
    ("image/png", "Übersicht_{n}.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "Kalkulation_{n}.xlsx",
        b"PK\x03\x04\x14\x00\x06\x00",
    ),
]


def folder_names(count: int = 20) -> list[str]:
    """`count` (at most 20) folder names as a German user's account has them: INBOX, the
    special-use folders, then folders and subfolders, one with an umlaut."""
    if not 1 <= count <= len(_FOLDERS):
        raise ValueError(f"between 1 and {len(_FOLDERS)} folders")
    return _FOLDERS[:count]


@dataclass(frozen=True)
class GeneratedMessage:
    lf: bytes  # the message with LF line ends, as Maildir files hold it
    flags: frozenset[str]  # IMAP system flags: \\Seen, \\Flagged, \\Answered
    date: datetime  # Date: header, also the INTERNALDATE in a Maildir
    kind: str  # "plain", "reply", "newsletter" or "attachment"
    message_id: str  # without angle brackets, as the index keeps it
    subject: str  # decoded
    sender: str  # address
    references: tuple[str, ...] = ()  # message ids, oldest first; a reply's parent is last
    attachment: str = ""  # file name of the attachment, for kind "attachment"
    text: str = ""  # the first lines of the body text a reader sees (plain text)

    @property
    def raw(self) -> bytes:
        """CRLF line ends, as APPEND and IMAP want them."""
        return self.lf.replace(b"\n", b"\r\n")

    @property
    def vsize(self) -> int:
        """RFC822.SIZE as Dovecot reports it (CRLF)."""
        return len(self.lf) + self.lf.count(b"\n")


class _Writer:
    """Text for one stream of messages; all choices come from one seeded Random."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def sentence(self, german: bool) -> str:
        r = self.rng
        if german:
            return f"{r.choice(_DE_OPEN)} {r.choice(_DE_MIDDLE)} {r.choice(_DE_CLOSE)}"
        return f"{r.choice(_EN_OPEN)} {r.choice(_EN_MIDDLE)} {r.choice(_EN_CLOSE)}"

    def paragraph(self, german: bool, sentences: int) -> str:
        return " ".join(self.sentence(german) for _ in range(sentences))

    def wrapped(self, text: str, width: int = 72) -> str:
        lines, line = [], ""
        for word in text.split(" "):
            if line and len(line) + 1 + len(word) > width:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        lines.append(line)
        return "\n".join(lines)

    def person(self) -> tuple[str, str]:
        r = self.rng
        first, last = r.choice(FIRST), r.choice(LAST)
        local = f"{first}.{last}".lower().translate(_ASCII)
        return f"{first} {last}", f"{local}@{r.choice(DOMAINS)}"

    def subject(self, german: bool, date: datetime) -> str:
        r = self.rng
        template = r.choice(_DE_SUBJECTS if german else _EN_SUBJECTS)
        month = _MONTHS.split()[date.month - 1] if german else date.strftime("%B")
        return template.format(
            n=r.randrange(10_000, 99_999), day=r.randrange(1, 29), month=month,
            city=r.choice(_CITIES), year=date.year,
        )  # fmt: skip


_ASCII = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ë": "e", "ı": "i"})


def _header(value: str) -> str:
    if value.isascii():
        return value
    return Header(value, "utf-8", maxlinelen=76).encode(linesep="\n")


def _address(name: str, addr: str) -> str:
    return formataddr((name, addr), charset="utf-8")


def _text_part(text: str, rng: random.Random) -> tuple[str, str]:
    """(headers, body) of a text/plain part: 8bit or quoted-printable, as mailers do."""
    if rng.random() < 0.3:
        body = binascii.b2a_qp(text.encode(), istext=True).decode("ascii")
        encoding = "quoted-printable"
    else:
        body, encoding = text, "8bit"
    headers = (
        "Content-Type: text/plain; charset=utf-8; format=flowed\n"
        f"Content-Transfer-Encoding: {encoding}\n"
    )
    return headers, body


def _base64(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii")


def _newsletter_html(w: _Writer, german: bool, domain: str, size: int) -> tuple[str, str]:
    """(html, text) of a newsletter about `size` bytes of HTML: a layout table of
    articles, each with a remote image, a headline, text and a tracking link."""
    r = w.rng
    headlines = _HEADLINES_DE if german else _HEADLINES_EN
    more = "Weiterlesen" if german else "Read more"
    parts = [
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">\n<style>\n'
        "body{margin:0;background:#f4f4f4;font-family:Arial,sans-serif}\n"
        "td.article{padding:16px;border-bottom:1px solid #ddd}\nh2{color:#c00;font-size:20px}\n"
        "</style></head>\n<body>\n"
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
        'bgcolor="#f4f4f4"><tr><td align="center">\n'
        '<table role="presentation" width="600" cellpadding="0" cellspacing="0" '
        'bgcolor="#ffffff">\n'
        f'<tr><td colspan="2"><img src="https://img.{domain}/header.png" width="600" '
        f'height="120" alt="Logo" style="display:block"></td></tr>\n'
    ]
    text = []
    length = sum(map(len, parts))
    article = 0
    while length < size:
        article += 1
        month = r.randrange(12)
        month_name = (
            _MONTHS.split()[month] if german else datetime(2000, month + 1, 1).strftime("%B")
        )
        headline = r.choice(headlines).format(month=month_name)
        paragraph = w.paragraph(german, r.randint(3, 8))
        link = f"https://{domain}/artikel/{article}?utm_source=newsletter&amp;utm_medium=email&amp;id={r.getrandbits(48):x}"
        row = (
            f'<tr><td class="article" width="160" valign="top"><a href="{link}">'
            f'<img src="https://img.{domain}/teaser/{r.getrandbits(40):x}.jpg" width="140" '
            f'height="100" alt="{headline}" style="border:0"></a></td>\n'
            f'<td class="article" valign="top"><h2 style="margin:0 0 8px">{headline}</h2>\n'
            f'<p style="font-size:15px;line-height:22px;color:#333">{paragraph}</p>\n'
            f'<p><a href="{link}" style="color:#c00;font-weight:bold">{more} &raquo;</a></p>'
            "</td></tr>\n"
        )
        parts.append(row)
        length += len(row)
        if article <= 5:
            text.append(f"{headline}\n\n{w.wrapped(paragraph)}\n{more}: {link}\n")
    unsubscribe = "Abmelden" if german else "Unsubscribe"
    parts.append(
        f'<tr><td colspan="2" style="font-size:12px;color:#888;padding:16px">'
        f'<a href="https://{domain}/abmelden?id={r.getrandbits(64):x}">{unsubscribe}</a>'
        f' &middot; <img src="https://track.{domain}/open/{r.getrandbits(64):x}.gif" '
        'width="1" height="1" alt=""></td></tr>\n</table>\n</td></tr></table>\n</body></html>\n'
    )
    return "".join(parts), "\n".join(text)


def messages(
    seed: int, n: int, *, end: datetime = END, years: int = 3
) -> Iterator[GeneratedMessage]:
    """The `n` messages of stream `seed`, oldest first, dated over `years` years up to
    `end`. The same arguments give the same bytes, in any process."""
    rng = random.Random(seed)
    w = _Writer(rng)
    span = timedelta(days=365 * years).total_seconds()
    start = end.timestamp() - span
    step = span / max(n, 1)
    recent: list[GeneratedMessage] = []  # what replies may answer
    for index in range(n):
        # In order, at least a second apart, so UIDs follow dates; jitter within a step.
        when = start + step * index + rng.random() * max(step - 1, 0)
        date = datetime.fromtimestamp(int(when), CET)
        newest = index >= n * 0.9
        flags = set()
        if rng.random() < (0.4 if newest else 0.95):
            flags.add("\\Seen")
        if rng.random() < 0.03:
            flags.add("\\Flagged")
        if rng.random() < 0.08:
            flags.add("\\Answered")
        message_id = f"{seed}.{index}.{rng.getrandbits(40):x}@{rng.choice(DOMAINS)}"
        roll = rng.random()
        if roll < 0.20:
            message = _newsletter(w, message_id, date)
        elif roll < 0.32:
            message = _with_attachment(w, message_id, date, index)
        elif roll < 0.50 and recent:
            # Mostly answers to mail of the last few days, sometimes to older mail.
            parent = recent[-1 - min(int(rng.expovariate(0.3)), len(recent) - 1)]
            message = _reply(w, message_id, date, parent)
        else:
            message = _plain(w, message_id, date)
        message = _replace(message, flags=frozenset(flags))
        if message.kind in ("plain", "reply"):
            recent.append(message)
            del recent[:-200]
        yield message


def _replace(message: GeneratedMessage, **changes) -> GeneratedMessage:
    return GeneratedMessage(**{**message.__dict__, **changes})


def _envelope(
    sender: tuple[str, str], subject: str, date: datetime, message_id: str, extra: str = ""
) -> str:
    return (
        f"Return-Path: <{sender[1]}>\n"
        f"From: {_address(*sender)}\n"
        f"To: {_address(*OWNER)}\n"
        f"Subject: {_header(subject)}\n"
        f"Date: {format_datetime(date)}\n"
        f"Message-ID: <{message_id}>\n{extra}"
        "MIME-Version: 1.0\n"
    )


def _plain(w: _Writer, message_id: str, date: datetime) -> GeneratedMessage:
    r = w.rng
    german = r.random() < 0.65
    sender = w.person()
    subject = w.subject(german, date)
    greeting = f"Hallo {OWNER[0].split()[0]}," if german else f"Hi {OWNER[0].split()[0]},"
    paragraphs = [w.wrapped(w.paragraph(german, r.randint(2, 6))) for _ in range(r.randint(1, 4))]
    bye = "Viele Grüße" if german else "Best regards"
    text = f"{greeting}\n\n" + "\n\n".join(paragraphs) + f"\n\n{bye}\n{sender[0]}\n"
    headers, body = _text_part(text, r)
    raw = _envelope(sender, subject, date, message_id) + headers + "\n" + body
    return GeneratedMessage(
        raw.encode(), frozenset(), date, "plain", message_id, subject, sender[1], text=text
    )


def _reply(
    w: _Writer, message_id: str, date: datetime, parent: GeneratedMessage
) -> GeneratedMessage:
    r = w.rng
    german = any(ch in parent.text for ch in "äöüß") or r.random() < 0.5
    sender = w.person()
    base = parent.subject
    for prefix in ("AW: ", "Re: "):
        base = base.removeprefix(prefix)
    subject = ("AW: " if german else "Re: ") + base
    references = (*parent.references[-9:], parent.message_id)
    quoted = "\n".join(f"> {line}" if line else ">" for line in parent.text.splitlines())
    wrote = "schrieb" if german else "wrote"
    text = (
        w.wrapped(w.paragraph(german, r.randint(1, 3)))
        + f"\n\nAm {format_datetime(parent.date)} {wrote} {parent.sender}:\n{quoted}\n"
    )
    headers, body = _text_part(text, r)
    extra = (
        f"In-Reply-To: <{parent.message_id}>\n"
        f"References: {' '.join(f'<{r}>' for r in references)}\n"
    )
    raw = _envelope(sender, subject, date, message_id, extra) + headers + "\n" + body
    return GeneratedMessage(
        raw.encode(), frozenset(), date, "reply", message_id, subject, sender[1],
        references=references, text=text,
    )  # fmt: skip


def _newsletter(w: _Writer, message_id: str, date: datetime) -> GeneratedMessage:
    r = w.rng
    name, addr, language = r.choice(_NEWSLETTERS)
    german = language == "de"
    domain = addr.split("@")[1]
    month = _MONTHS.split()[date.month - 1] if german else f"{date:%B}"
    headline = r.choice(_HEADLINES_DE if german else _HEADLINES_EN).format(month=month)
    subject = f"Newsletter {date:%m/%Y}: {headline}"
    html, text = _newsletter_html(w, german, domain, r.randint(20_000, 100_000))
    boundary = f"=_alt_{r.getrandbits(64):016x}"
    html_qp = binascii.b2a_qp(html.encode(), istext=True).decode("ascii")
    extra = (
        f"List-Unsubscribe: <https://{domain}/abmelden>\n"
        f'Content-Type: multipart/alternative; boundary="{boundary}"\n'
    )
    raw = (
        _envelope((name, addr), subject, date, message_id, extra)
        + f"\nThis is a multi-part message in MIME format.\n\n--{boundary}\n"
        + "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
        + f"{text}\n--{boundary}\n"
        + "Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"
        + f"{html_qp}\n--{boundary}--\n"
    )
    return GeneratedMessage(
        raw.encode(), frozenset(), date, "newsletter", message_id, subject, addr, text=text
    )


def _with_attachment(w: _Writer, message_id: str, date: datetime, index: int) -> GeneratedMessage:
    r = w.rng
    german = r.random() < 0.65
    sender = w.person()
    subject = w.subject(german, date)
    content_type, name_template, magic = r.choice(_ATTACHMENTS)
    filename = name_template.format(n=index)
    size = int(min(300_000, 5_000 + r.expovariate(1 / 40_000)))
    data = magic + r.randbytes(size - len(magic))
    if filename.isascii():
        disposition = f'attachment; filename="{filename}"'
    else:
        disposition = f"attachment; filename*=utf-8''{urllib.parse.quote(filename)}"
    anbei = "anbei die Datei" if german else "please find attached"
    text = f"{anbei} {filename}.\n\n" + w.wrapped(w.paragraph(german, r.randint(1, 3))) + "\n"
    headers, body = _text_part(text, r)
    boundary = f"=_mixed_{r.getrandbits(64):016x}"
    raw = (
        _envelope(sender, subject, date, message_id,
                  f'Content-Type: multipart/mixed; boundary="{boundary}"\n')
        + f"\n--{boundary}\n{headers}\n{body}\n--{boundary}\n"
        + f"Content-Type: {content_type}; name=\"{filename if filename.isascii() else 'file'}\"\n"
        + f"Content-Disposition: {disposition}\nContent-Transfer-Encoding: base64\n\n"
        + _base64(data)
        + f"--{boundary}--\n"
    )  # fmt: skip
    return GeneratedMessage(
        raw.encode(), frozenset(), date, "attachment", message_id, subject, sender[1],
        attachment=filename, text=text,
    )  # fmt: skip


# -- into Dovecot ---------------------------------------------------------------------------


def maildir_path(dovecot, user, folder: str) -> Path:
    """The Maildir++ directory of `folder` in the throwaway Dovecot (tests/dovecot.py:
    mail_location = maildir:~/Maildir, home = mail_root/<user>, '/' as separator, names
    in modified UTF-7 on disk)."""
    root = Path(dovecot.mail_root) / _name(user) / "Maildir"
    if folder.upper() == "INBOX":
        return root
    encoded = imap_utf7.encode(folder).decode("ascii")
    return root / ("." + encoded.replace("/", "."))


def _name(user) -> str:
    return user if isinstance(user, str) else user.name


def _maildir_make(path: Path, owner: tuple[int, int] | None, folder: bool) -> None:
    for sub in ("", "cur", "new", "tmp"):
        directory = path / sub
        if not directory.exists():
            directory.mkdir(mode=0o700, parents=True)
            if owner:
                os.chown(directory, *owner)
    marker = path / "maildirfolder"
    if folder and not marker.exists():
        marker.touch(mode=0o600)
        if owner:
            os.chown(marker, *owner)


def mailbox_generate(
    dovecot, user, *, folders: Mapping[str, int], seed: int = 0, years: int = 3
) -> dict[str, int]:
    """Writes `messages(seed + k, n)` into the k-th folder of `folders` (name: n), as
    Maildir files of `user` on the throwaway `dovecot`, then has Dovecot index each folder
    and subscribes it. Parents of nested folders are created (empty) as well. Returns
    the number of messages per folder as the server reports it."""
    owner = (dovecot.mail_uid, dovecot.mail_gid) if os.geteuid() == 0 else None
    home = Path(dovecot.mail_root) / _name(user)
    if not home.exists():
        home.mkdir(mode=0o700)
        if owner:
            os.chown(home, *owner)
    _maildir_make(maildir_path(dovecot, user, "INBOX"), owner, folder=False)
    names = list(folders)
    for name in folders:
        parts = name.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            if parent not in names:
                names.append(parent)
    for k, (folder, count) in enumerate(folders.items()):
        path = maildir_path(dovecot, user, folder)
        _maildir_make(path, owner, folder=folder.upper() != "INBOX")
        cur = path / "cur"
        for index, message in enumerate(messages(seed + k, count, years=years)):
            letters = "".join(sorted(_FLAG_LETTERS[f] for f in message.flags))
            stamp = int(message.date.timestamp())
            file = cur / (
                f"{stamp}.M{index}P{seed + k}.postfach,S={len(message.lf)},W={message.vsize}"
                f":2,{letters}"
            )
            fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, message.lf)
                if owner:
                    os.fchown(fd, *owner)
            finally:
                os.close(fd)
            os.utime(file, (stamp, stamp))
    for name in names:
        if name not in folders:
            _maildir_make(maildir_path(dovecot, user, name), owner, folder=True)
    counts = {}
    # Not dovecot.client(): its 10 s time-out is too short for Dovecot's first look at a
    # folder of 100,000 new files on a busy machine.
    with IMAPClient(dovecot.host, dovecot.imap_port, ssl=False, timeout=600) as client:
        client.login(_name(user), dovecot.passwords[_name(user)])
        for name in names:
            if name.upper() != "INBOX":
                client.subscribe_folder(name)
        for name in folders:
            # SELECT makes Dovecot read the directory, hand out UIDs and build its index.
            counts[name] = client.select_folder(name, readonly=True)[b"EXISTS"]
            client.unselect_folder()
    return counts
