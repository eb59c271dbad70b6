"""Writing mail: starting a message, saving it as a draft, sending it, and its attachments.

The pure work (what goes into a message, how replies quote) is webmail.compose's; this
module adds the account, the mail servers and the files. The rules:

1. Nothing typed is lost. When sending fails (no server, login refused, a recipient or
   the message refused), the message is saved to Drafts first and SendFailed says why
   and names the saved draft; the form keeps everything anyway.
2. Nothing is sent twice. Once the SMTP server has taken the message nothing here raises:
   what fails afterwards (the copy in Sent, the \\Answered or $Forwarded flag, removing
   the draft) comes back as warnings, so the writer is never asked to send again.
3. One draft per message. Saving again appends the new version first and then removes
   exactly the previous one (\\Deleted and UID EXPUNGE of that UID, checked against the
   Drafts folder's UIDVALIDITY), so a failure in between leaves two drafts, never none.
4. Attachments live in the writer's compose area, DATA_DIR/compose/<user id>/<compose
   id>/, a directory per message being written: uploads are moved there from Django's
   temporary files (never read into memory), and replies, forwards and reopened drafts
   write the original's parts there. Files get random names; the names the writer sees
   are kept in a small manifest beside them. Areas are removed after sending, and by
   compose_areas_clean once nobody has used them for COMPOSE_AREA_MAX_AGE.
"""

from __future__ import annotations

import fcntl
import json
import logging
import mimetypes
import os
import re
import secrets
import shutil
import zoneinfo
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta, tzinfo
from pathlib import Path

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.crypto import CredentialError
from accounts.models import Identity, MailAccount, User
from webmail import clock
from webmail.compose.build import (
    UnsafeMessage,
    draft_build,
    envelope_recipients,
    envelope_sender,
    message_build,
)
from webmail.compose.draft import FORWARD, REPLY, Answers, Attachment, Draft, MessageRef
from webmail.compose.draft import Identity as Sender
from webmail.compose.files import file_new
from webmail.compose.header_values import header_line
from webmail.compose.quote import signature_text
from webmail.compose.reopen import draft_from_message
from webmail.compose.reply import (
    draft_forward,
    draft_forward_attached,
    draft_reply,
    draft_reply_all,
)
from webmail.protocols.errors import (
    AuthenticationFailed,
    FolderChanged,
    FolderNotFound,
    MailServerError,
    MessageNotFound,
    NotSupported,
    ServerUnavailable,
    TimedOut,
)
from webmail.protocols.smtp import MessageRefused, RecipientsRefused, smtp_send
from webmail.protocols.store import Address, MailStore
from webmail.sanitize import html_sanitize

from .contacts import contacts_collect
from .errors import error_message
from .identities import identities_for, identity_addresses
from .index import index_flags_changed, index_folder_grew
from .organise import DRAFTS, SENT, special_folder_find
from .pop3_policy import site_settings
from .stores import outgoing_settings, store_open
from .sync import account_sync_queue

log = logging.getLogger(__name__)

NEW, REPLY_ALL, FORWARD_ATTACHED, DRAFT = "new", "reply_all", "forward_attached", "draft"
KINDS = (NEW, REPLY, REPLY_ALL, FORWARD, FORWARD_ATTACHED, DRAFT)
COMPOSE_AREA_MAX_AGE = timedelta(days=1)  # since the last save, upload or send
CLEAN_BATCH = 1000  # compose areas removed per compose_areas_clean run
_COMPOSE_ID = re.compile(r"[0-9a-f]{32}")
_ATTACHMENT_ID = re.compile(r"[0-9a-f]{16}")
_PART_FILE = re.compile(r"part-[0-9a-f]{24}")
_MANIFEST = "attachments.json"
_LOCK = ".lock"
MAX_FILENAME = 255  # characters of an attachment's name as the writer sees it


# -- errors: each one's text is for the writer, in their language ------------------------


class ComposeError(Exception):
    """Something the writer should be told; str() is the sentence."""


def attachment_limit() -> int:
    """How many bytes the attachments of one message may add up to: the admin's
    `max_attachment_mb` (SiteSettings) when set, else MAIL_MAX_ATTACHMENT_BYTES."""
    megabytes = site_settings().max_attachment_mb
    return megabytes * 1024 * 1024 if megabytes else settings.MAIL_MAX_ATTACHMENT_BYTES


class AttachmentsTooLarge(ComposeError):
    def __init__(self, refused: list[str], *, limit: int) -> None:
        limit = filesizeformat(limit)
        names = ", ".join(f"“{name}”" for name in refused)
        super().__init__(
            ngettext(
                "The attachments of one message may add up to at most %(limit)s, so "
                "%(names)s was not attached.",
                "The attachments of one message may add up to at most %(limit)s, so "
                "%(names)s were not attached.",
                len(refused),
            )
            % {"limit": limit, "names": names}
        )
        self.refused = refused


class MessageNotBuilt(ComposeError):
    """The message could not be put together (an attachment is gone, or a header came
    out differently than written); nothing was sent or saved."""


class NoRecipients(ComposeError):
    def __init__(self) -> None:
        super().__init__(_("Add at least one recipient in To, Cc or Bcc."))


class OriginalTooLarge(ComposeError):
    def __init__(self, size: int) -> None:
        super().__init__(
            _(
                "This message is too large (%(size)s) to forward or edit here. Download "
                "the original instead."
            )
            % {"size": filesizeformat(size)}
        )


class DraftNotSaved(ComposeError):
    def __init__(self, reason: str) -> None:
        super().__init__(_("The draft could not be saved. %(reason)s") % {"reason": reason})
        self.reason = reason


class NoOutgoingServer(MailServerError):
    code = "no_smtp_server"


class SendFailed(ComposeError):
    """Nothing was sent. `saved` says whether the draft was saved instead, `draft` names
    it (None when the server cannot say its UID); `cause` is the error that stopped the
    sending."""

    def __init__(
        self,
        reason: str,
        *,
        saved: bool,
        draft: DraftRef | None,
        save_error: str = "",
        cause: Exception | None = None,
    ) -> None:
        if saved:
            after = _("The message is saved in Drafts.")
        else:
            after = _(
                "It could not be saved in Drafts either (%(reason)s) but it is still in this form."
            ) % {"reason": save_error}
        super().__init__(
            _("The message was not sent. %(reason)s %(after)s") % {"reason": reason, "after": after}
        )
        self.reason = reason
        self.saved = saved
        self.draft = draft
        self.cause = cause


# -- results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DraftRef:
    """A saved draft: its UID in the Drafts folder and that folder's UIDVALIDITY, so a
    later save removes exactly it and nothing else."""

    uidvalidity: int
    uid: int


@dataclass(frozen=True)
class StoredAttachment:
    id: str  # names it in the form ("Remove")
    attachment: Attachment


@dataclass
class ComposeStart:
    """A message ready for the form: the draft, who it is from, and the saved draft it
    continues (which the next save replaces)."""

    draft: Draft
    identity_id: int
    replaces: DraftRef | None = None


@dataclass(frozen=True)
class Sent:
    recipients: int
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CleanupReport:
    removed: int
    left: int


# -- the compose area -----------------------------------------------------------------------


class ComposeArea:
    """The directory that holds the attachments of one message being written. Made only
    when a file arrives; `id` goes into the form so the next request finds it again."""

    def __init__(self, user_id: int, compose_id: str) -> None:
        if not _COMPOSE_ID.fullmatch(compose_id or ""):
            raise ValueError("not a compose id")
        self.id = compose_id
        self.path = compose_root() / str(int(user_id)) / compose_id

    def directory(self) -> Path:
        """The area's directory, made (private to us) if it is not there yet."""
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self.path

    def attachments(self) -> list[StoredAttachment]:
        """What is attached, in the order it came; entries whose file is gone are left
        out, and nothing in the manifest can name a file outside the area."""
        found = []
        for entry in self._entries():
            try:
                file_name, attachment_id = entry["file"], entry["id"]
                if not (
                    _PART_FILE.fullmatch(file_name) and _ATTACHMENT_ID.fullmatch(attachment_id)
                ):
                    continue
                path = self.path / file_name
                if not path.is_file():
                    continue
                found.append(
                    StoredAttachment(
                        id=attachment_id,
                        attachment=Attachment(
                            filename=str(entry["filename"]),
                            content_type=str(entry["content_type"]),
                            path=path,
                            size=path.stat().st_size,
                        ),
                    )
                )
            except (KeyError, TypeError, OSError):
                continue
        return found

    def files(self) -> list[Attachment]:
        return [stored.attachment for stored in self.attachments()]

    def size(self) -> int:
        return sum(stored.attachment.size for stored in self.attachments())

    def touch(self) -> None:
        """Marks the area as in use, so clean-up leaves it alone a while longer."""
        if self.path.is_dir():
            os.utime(self.path)

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def _add(self, attachments: list[Attachment]) -> None:
        """Records files already in the area's directory."""
        with self._locked():
            entries = self._entries()
            for attachment in attachments:
                entries.append(
                    {
                        "id": secrets.token_hex(8),
                        "file": attachment.path.name,
                        "filename": _filename_clean(attachment.filename),
                        "content_type": attachment.content_type,
                    }
                )
            self._write(entries)

    def _remove(self, attachment_id: str) -> bool:
        if not _ATTACHMENT_ID.fullmatch(attachment_id or ""):
            return False
        with self._locked():
            entries = self._entries()
            kept = [e for e in entries if e.get("id") != attachment_id]
            for entry in entries:
                if entry.get("id") == attachment_id and _PART_FILE.fullmatch(entry.get("file", "")):
                    (self.path / entry["file"]).unlink(missing_ok=True)
            self._write(kept)
        return len(kept) != len(entries)

    def _entries(self) -> list[dict]:
        try:
            data = json.loads((self.path / _MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        entries = data.get("attachments") if isinstance(data, dict) else None
        return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []

    def _write(self, entries: list[dict]) -> None:
        temporary = self.directory() / f"{_MANIFEST}.{secrets.token_hex(4)}"
        temporary.write_text(json.dumps({"v": 1, "attachments": entries}), encoding="utf-8")
        temporary.replace(self.path / _MANIFEST)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        # Two requests of one writer (an upload and a removal) must not lose each other's
        # change to the manifest.
        with open(self.directory() / _LOCK, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield


def compose_root() -> Path:
    return Path(settings.DATA_DIR) / "compose"


def compose_area_open(user: User, compose_id: str | None = None) -> ComposeArea:
    """The user's area with this id (ValueError for an id that is not one of ours), or a
    new one. Opening marks it as in use."""
    area = ComposeArea(user.pk, compose_id or secrets.token_hex(16))
    area.touch()
    return area


def attachments_add(area: ComposeArea, files: Iterable, *, refused: Iterable[str] = ()) -> int:
    """Moves uploaded files (Django UploadedFiles) into the area, in order, while the
    attachments together stay within attachment_limit(); returns how many were
    added. Raises AttachmentsTooLarge naming the files left out, also those the upload
    handler stopped reading already (`refused`)."""
    limit = attachment_limit()
    total = area.size()
    added: list[Attachment] = []
    too_large = [_filename_clean(name) for name in refused]
    for upload in files:
        name = _filename_clean(upload.name)
        if total + upload.size > limit:
            too_large.append(name)
            continue
        path = file_new(area.directory())
        if hasattr(upload, "temporary_file_path"):
            # A rename where the upload directory is on the same file system; the
            # temporary file object then finds its file gone, which Django expects.
            shutil.move(upload.temporary_file_path(), path)
        else:
            with open(path, "wb") as out:
                for chunk in upload.chunks():
                    out.write(chunk)
        size = path.stat().st_size
        total += size
        added.append(
            Attachment(filename=name, content_type=_content_type(upload), path=path, size=size)
        )
    if added:
        area._add(added)
    if too_large:
        raise AttachmentsTooLarge(too_large, limit=limit)
    return len(added)


def attachment_remove(area: ComposeArea, attachment_id: str) -> bool:
    """Removes one attachment (its file too); False when there was no such one."""
    return area._remove(attachment_id)


def compose_areas_clean(
    *, max_age: timedelta = COMPOSE_AREA_MAX_AGE, limit: int = CLEAN_BATCH
) -> CleanupReport:
    """Removes compose areas nobody has used for `max_age` (messages abandoned in a
    closed tab; what was saved as a draft keeps its attachments in the Drafts folder),
    at most `limit` per run, and upload leftovers of requests that died. For a periodic
    task; returns how many areas were removed and how many stale ones are left."""
    cutoff = (clock.now() - max_age).timestamp()
    removed = left = 0
    root = compose_root()
    for user_dir in _subdirectories(root):
        for area in _subdirectories(user_dir):
            if _mtime(area) >= cutoff:
                continue
            if removed >= limit:
                left += 1
                continue
            shutil.rmtree(area, ignore_errors=True)
            removed += 1
        try:
            user_dir.rmdir()  # only when empty
        except OSError:
            pass
    uploads = Path(settings.FILE_UPLOAD_TEMP_DIR or "")
    if settings.FILE_UPLOAD_TEMP_DIR and uploads.is_dir():
        for leftover in uploads.iterdir():
            if leftover.is_file() and _mtime(leftover) < cutoff:
                leftover.unlink(missing_ok=True)
    if removed:
        log.info("compose clean-up: %s stale compose areas removed, %s left", removed, left)
    return CleanupReport(removed=removed, left=left)


def _subdirectories(path: Path) -> list[Path]:
    try:
        return [child for child in path.iterdir() if child.is_dir() and not child.is_symlink()]
    except OSError:
        return []


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return float("inf")  # gone meanwhile: nothing to do


def _filename_clean(name: str | None) -> str:
    """An uploaded file's name as the writer sees it: its last path part, on one line."""
    name = header_line(re.split(r"[/\\]", name or "")[-1])[:MAX_FILENAME]
    return name or _("attachment")


def _content_type(upload) -> str:
    """The browser's word for the type, or a guess from the name when it had none."""
    given = (getattr(upload, "content_type", "") or "").strip().lower()
    if given and given != "application/octet-stream":
        return given
    guessed, _encoding = mimetypes.guess_type(upload.name or "")
    return guessed or "application/octet-stream"


# -- starting a message ---------------------------------------------------------------------


def compose_start(
    account: MailAccount,
    *,
    kind: str = NEW,
    folder: str | None = None,
    uidvalidity: int | None = None,
    uid: int | None = None,
    area: ComposeArea,
) -> ComposeStart:
    """The message the form starts with: empty but for the signature (NEW), a reply,
    reply-all or forward of the message `uid` in `folder`, or a saved draft to edit
    (DRAFT; when it is in the Drafts folder, saving replaces it). The default identity
    sends, with its signature above any quoted text; reply-all leaves out every address
    of the user's own. Attachments of the original go into `area`.

    Reads the original without marking it read. Raises MessageNotFound (also for a
    stale UIDVALIDITY), OriginalTooLarge for a message too large to forward or edit, and
    the MailServerErrors of reaching the server."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    identities = identities_for(account)
    default = identities[0]
    sender = sender_of(default)
    if kind == NEW:
        text = signature_text(default.signature)
        draft = Draft(identity=sender, text=f"\n\n{text}\n" if text else "")
        return ComposeStart(draft=draft, identity_id=default.pk)
    if not folder or uidvalidity is None or uid is None:
        raise ValueError(f"{kind} needs folder, uidvalidity and uid")
    with store_open(account) as store:
        raw = store.message_raw(
            folder, uid, uidvalidity=uidvalidity, max_bytes=settings.MAIL_MAX_PARSE_BYTES
        )
        drafts = special_folder_find(store, DRAFTS, create=False) if kind == DRAFT else None
    if raw.truncated and kind != REPLY and kind != REPLY_ALL:
        raise OriginalTooLarge(raw.size)  # a reply quotes the beginning; the rest needs all
    source = MessageRef(folder, uidvalidity, uid)
    signature = default.signature
    time_zone = _time_zone(account.user)
    replaces = None
    if kind in (REPLY, REPLY_ALL):
        reply = draft_reply if kind == REPLY else draft_reply_all
        draft = reply(
            raw.data,
            identity=sender,
            own_addresses=identity_addresses(account.user),
            signature=signature,
            source=source,
            time_zone=time_zone,
        )
    elif kind == FORWARD:
        draft = draft_forward(
            raw.data,
            identity=sender,
            signature=signature,
            source=source,
            time_zone=time_zone,
            attachment_dir=area.directory(),
        )
    elif kind == FORWARD_ATTACHED:
        draft = draft_forward_attached(
            raw.data,
            identity=sender,
            attachment_dir=area.directory(),
            signature=signature,
            source=source,
        )
    else:
        draft = draft_from_message(raw.data, attachment_dir=area.directory())
        chosen = next(
            (i for i in identities if i.email.lower() == draft.identity.addr.lower()), default
        )
        draft.identity, default = sender_of(chosen), chosen
        if folder == drafts:
            replaces = DraftRef(uidvalidity=uidvalidity, uid=uid)
    if draft.attachments:
        area._add(draft.attachments)
    draft.attachments = area.files()
    draft.html = html_clean(draft.html)
    return ComposeStart(draft=draft, identity_id=default.pk, replaces=replaces)


def signatures_of(account: MailAccount) -> dict[str, str]:
    """Identity id -> its signature block as the plain-text body holds it ("-- " line
    and all), for the form to swap when the writer picks another identity."""
    return {str(i.pk): signature_text(i.signature) for i in identities_for(account)}


def sender_of(identity: Identity) -> Sender:
    reply_to = [Address("", identity.reply_to)] if identity.reply_to else []
    return Sender(addr=identity.email, name=identity.name, reply_to=reply_to)


def html_clean(html: str | None) -> str | None:
    """HTML the writer made (or a saved draft holds) as it may be shown and sent: through
    the sanitizer, without remote or cid: images."""
    if html is None:
        return None
    return html_sanitize(html, inline_image_url=lambda content_id: None, remote_image_url=None).html


def draft_make(
    account: MailAccount,
    *,
    identity_id: int,
    to: list[Address],
    cc: list[Address],
    bcc: list[Address],
    subject: str,
    text: str,
    html: str | None,
    area: ComposeArea,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    answers: Answers | None = None,
) -> Draft:
    """The Draft the form describes. With `html` (the editor's), the plain text is made
    from it when the message is built. Raises Identity.DoesNotExist for an identity that
    is not this account's."""
    identity = Identity.objects.get(pk=identity_id, account=account)
    html = html_clean(html) if html else None
    return Draft(
        identity=sender_of(identity),
        to=to,
        cc=cc,
        bcc=bcc,
        subject=header_line(subject),
        text="" if html else text,
        html=html,
        attachments=area.files(),
        in_reply_to=in_reply_to,
        references=list(references or []),
        answers=answers,
    )


def _time_zone(user: User) -> tzinfo:
    try:
        return (
            zoneinfo.ZoneInfo(user.time_zone) if user.time_zone else timezone.get_default_timezone()
        )
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return timezone.get_default_timezone()


# -- saving ---------------------------------------------------------------------------------


def draft_save(
    account: MailAccount, draft: Draft, *, replaces: DraftRef | None = None
) -> DraftRef | None:
    """Saves the draft in the Drafts folder (made when there is none), \\Seen and
    \\Draft, then removes the version it replaces. Returns the new draft, or None when
    the server cannot say its UID (no UIDPLUS; the previous version then stays too).

    Raises InvalidAddresses, MessageNotBuilt, or DraftNotSaved with the reason when the
    mail server cannot be reached or refuses."""
    data = _built(draft_build, draft)
    try:
        with store_open(account) as store:
            drafts = special_folder_find(store, DRAFTS, create=True)
            uidvalidity = store.folder_status(drafts).uidvalidity
            uid = store.message_append(drafts, data, flags=["\\Seen", "\\Draft"])
            saved = DraftRef(uidvalidity, uid) if uid is not None else None
            if replaces is not None and replaces != saved:
                _draft_remove(store, drafts, replaces)
    except (MailServerError, CredentialError) as exc:
        log.info("account %s: draft not saved: %s", account.pk, getattr(exc, "code", "credentials"))
        raise DraftNotSaved(error_message(exc)) from exc
    # The index cannot know the new UID: Drafts lists from the server until the next sync.
    index_folder_grew(account=account, folder=drafts)
    return saved


def _draft_remove(store: MailStore, drafts: str, ref: DraftRef) -> bool:
    """Removes exactly this draft; True when it is gone (or was already)."""
    try:
        store.messages_expunge(drafts, [ref.uid], uidvalidity=ref.uidvalidity)
    except FolderChanged:
        # Drafts was made anew: that UID names nothing of ours any more.
        return True
    except NotSupported:
        return False
    return True


def _built(build, draft: Draft) -> bytes:
    try:
        return build(draft, now=clock.now())
    except UnsafeMessage as exc:
        log.error("a message came out with other header fields than it was built with")
        raise MessageNotBuilt(
            _("The message could not be put together safely, so nothing was done.")
        ) from exc
    except OSError as exc:
        raise MessageNotBuilt(
            _("An attachment could not be read any more. Remove it and attach it again.")
        ) from exc


# -- sending --------------------------------------------------------------------------------


def message_send(
    account: MailAccount,
    draft: Draft,
    *,
    replaces: DraftRef | None = None,
    area: ComposeArea | None = None,
) -> Sent:
    """Sends the draft through the account's SMTP server, then files a copy in Sent
    (\\Seen), flags the message it answers \\Answered or $Forwarded, removes its saved
    draft (`replaces`) and its compose area, and adds the recipients to the address book.

    Raises InvalidAddresses, NoRecipients or MessageNotBuilt before anything is sent, and
    SendFailed when the server does not take it (the draft is saved then: rule 1).
    Nothing raises after the server took the message (rule 2): see Sent.warnings."""
    data = _built(message_build, draft)
    recipients = envelope_recipients(draft)
    if not recipients:
        raise NoRecipients()
    try:
        if not account.smtp_host:
            raise NoOutgoingServer("the account has no SMTP server")
        smtp_send(
            outgoing_settings(account),
            sender=envelope_sender(draft),
            recipients=recipients,
            message=data,
        )
    except (MailServerError, CredentialError) as exc:
        level = logging.INFO if _writer_side(exc) else logging.WARNING
        log.log(level, "account %s: not sent: %s", account.pk, getattr(exc, "code", "credentials"))
        raise _send_failed(account, draft, replaces, exc) from exc
    log.info("account %s: message sent to %s recipients", account.pk, len(recipients))
    warnings = _after_sending(account, draft, data, replaces)
    try:
        contacts_collect(account.user, draft.recipients, source="sent")
    except Exception:  # the mail is out: the address book must not turn that into an error
        log.exception("account %s: recipients not added to the address book", account.pk)
    if area is not None:
        area.discard()
    return Sent(recipients=len(recipients), warnings=warnings)


def _after_sending(
    account: MailAccount, draft: Draft, data: bytes, replaces: DraftRef | None
) -> list[str]:
    warnings = []
    filed = draft_gone = False
    try:
        with store_open(account) as store:
            try:
                sent = special_folder_find(store, SENT, create=True)
                store.message_append(sent, data, flags=["\\Seen"])
                filed = True
                index_folder_grew(account=account, folder=sent)
            except MailServerError as exc:
                warnings.append(_not_filed(exc))
            if draft.answers is not None:
                _original_mark(account, store, draft.answers)
            if replaces is None:
                draft_gone = True
            else:
                try:
                    drafts = special_folder_find(store, DRAFTS, create=False)
                    draft_gone = drafts is None or _draft_remove(store, drafts, replaces)
                    if drafts is not None:
                        index_folder_grew(account=account, folder=drafts)
                except MailServerError:
                    draft_gone = False
    except (MailServerError, CredentialError) as exc:
        if not filed:
            warnings.append(_not_filed(exc))
    if not draft_gone:
        warnings.append(_("Its draft is still in the Drafts folder; you may delete it."))
    account_sync_queue([account])  # Sent and Drafts back into the index soon
    return warnings


def _not_filed(exc: Exception) -> str:
    log.warning("a sent message could not be filed in Sent: %s", getattr(exc, "code", exc))
    return _("The message was sent, but no copy could be put into the Sent folder. %(reason)s") % {
        "reason": error_message(exc)
    }


def _original_mark(account: MailAccount, store: MailStore, answers: Answers) -> None:
    """\\Answered or $Forwarded on the message the draft answers, if it is still there."""
    try:
        store.flags_add(
            answers.folder, [answers.uid], [answers.flag], uidvalidity=answers.uidvalidity
        )
        index_flags_changed(
            account=account, folder=answers.folder, uidvalidity=answers.uidvalidity,
            uids=[answers.uid], add=[answers.flag],
        )
    except (FolderChanged, FolderNotFound, MessageNotFound, ValueError):
        log.info("account %s: the answered message is gone; not flagged", account.pk)
    except MailServerError as exc:
        log.info("account %s: answered message not flagged: %s", account.pk, exc.code)


def _writer_side(exc: Exception) -> bool:
    return isinstance(
        exc,
        AuthenticationFailed
        | RecipientsRefused
        | MessageRefused
        | NoOutgoingServer
        | CredentialError,
    )


def _send_failed(
    account: MailAccount, draft: Draft, replaces: DraftRef | None, exc: Exception
) -> SendFailed:
    try:
        ref = draft_save(account, draft, replaces=replaces)
    except ComposeError as problem:
        return SendFailed(
            send_error_text(exc),
            saved=False,
            draft=replaces,
            save_error=getattr(problem, "reason", str(problem)),
            cause=exc,
        )
    return SendFailed(send_error_text(exc), saved=True, draft=ref, cause=exc)


def send_error_text(exc: Exception) -> str:
    """Why the outgoing server did not take the message, in the writer's words."""
    if isinstance(exc, NoOutgoingServer):
        return _("This account has no outgoing (SMTP) server. Add the account again with one.")
    if isinstance(exc, RecipientsRefused):
        names = ", ".join(exc.addresses)
        return ngettext(
            "The outgoing mail server refused the address %(addresses)s, so it went to "
            "nobody. Correct the address and send it again.",
            "The outgoing mail server refused the addresses %(addresses)s, so it went to "
            "nobody. Correct the addresses and send it again.",
            len(exc.addresses),
        ) % {"addresses": names}
    if isinstance(exc, MessageRefused):
        if exc.smtp_code == 552:
            text = _("The outgoing mail server refused the message as too large.")
        else:
            text = _("The outgoing mail server refused the message.")
        if exc.reply:
            text += " " + _("It said: “%(reply)s”") % {"reply": exc.reply}
        return text
    if isinstance(exc, AuthenticationFailed):
        return _("The outgoing mail server refused the login name or password.")
    if isinstance(exc, TimedOut | ServerUnavailable):
        return _(
            "The outgoing mail server stopped answering. If it had taken the message "
            "already it will still deliver it, so ask the recipients before sending it "
            "again."
        )
    return _("The outgoing mail server could not be reached. %(reason)s") % {
        "reason": error_message(exc)
    }


# -- the form's view of addresses -------------------------------------------------------------


def addresses_text(addresses: Iterable[Address]) -> str:
    """Addresses as they are typed into a To, Cc or Bcc field, so that addresses_parse
    reads them back the same: a name with a comma or quote in it is quoted."""
    entries = []
    for address in addresses:
        name = address.name
        if not name:
            entries.append(address.addr)
            continue
        if any(char in name for char in ',;:"<>()[]\\@'):
            name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        entries.append(f"{name} <{address.addr}>")
    return ", ".join(entries)
