"""What the organising pages post. Fields a page fills in itself (folder, UIDVALIDITY, the
selected UIDs) are checked strictly: a bad value there means a forged or broken request,
which the views answer with 400. Names the reader types get their own messages."""

import re

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy as ngettext

from webmail.compose.addresses import InvalidAddresses, addresses_parse
from webmail.compose.draft import FORWARD, REPLY, Answers
from webmail.compose.header_values import message_ids_parse
from webmail.compose.html_text import html_to_text
from webmail.models import Pop3Keep, Pop3Policy
from webmail.services.compose import ComposeStart, DraftRef, addresses_text
from webmail.services.organise import MAX_SELECTION

UID_MAX = 2**32 - 1
_FOLDER_NAME_BAD = re.compile(r"[\r\n\x00]")

ACTIONS = ("read", "unread", "flag", "unflag", "move", "archive", "junk", "delete")


class FolderField(forms.CharField):
    """A folder's server name, as a page sent it (never stripped: spaces can be part of it)."""

    def __init__(self, **kwargs):
        super().__init__(max_length=1000, strip=False, **kwargs)

    def validate(self, value):
        super().validate(value)
        if value and _FOLDER_NAME_BAD.search(value):
            raise ValidationError("bad folder name")


class UidsField(forms.Field):
    """Every `uid` value of the request, as a sorted list without repeats."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value):
        if not value:
            return []
        if not isinstance(value, list | tuple) or len(value) > MAX_SELECTION:
            raise ValidationError("too many UIDs")
        try:
            uids = sorted({int(item) for item in value})
        except (TypeError, ValueError):
            raise ValidationError("not a UID") from None
        if any(not 0 < uid <= UID_MAX for uid in uids):
            raise ValidationError("not a UID")
        return uids


class SelectionForm(forms.Form):
    """One action on the messages selected in the list, or on the message being read."""

    action = forms.ChoiceField(choices=[(a, a) for a in ACTIONS])
    folder = FolderField()
    uidvalidity = forms.IntegerField(min_value=1, max_value=UID_MAX)
    uid = UidsField(required=False)
    target = FolderField(required=False)  # for "move"
    page = forms.IntegerField(min_value=1, max_value=100_000, required=False)
    # Sent by the message page: the message shown, and the one to show after it is gone.
    shown = forms.IntegerField(min_value=1, max_value=UID_MAX, required=False)
    next = forms.IntegerField(min_value=1, max_value=UID_MAX, required=False)
    confirmed = forms.BooleanField(required=False)

    def clean(self):
        data = super().clean()
        if data.get("action") == "move" and not data.get("target"):
            raise ValidationError("move needs a target")
        return data


class EmptyFolderForm(forms.Form):
    folder = FolderField()
    uidvalidity = forms.IntegerField(min_value=1, max_value=UID_MAX)
    uidnext = forms.IntegerField(min_value=1, max_value=UID_MAX + 1)


class FolderDeleteForm(forms.Form):
    folder = FolderField()
    uidvalidity = forms.IntegerField(min_value=1, max_value=UID_MAX)


class FolderCreateForm(forms.Form):
    # Not required here: the service explains an empty name in the reader's words.
    name = forms.CharField(label=_("Name"), max_length=1000, strip=False, required=False)
    parent = FolderField(required=False)


class FolderRenameForm(forms.Form):
    folder = FolderField()
    name = forms.CharField(label=_("New name"), max_length=1000, strip=False, required=False)


class FolderSubscribeForm(forms.Form):
    folder = FolderField()
    subscribed = forms.BooleanField(required=False)


# -- writing mail ---------------------------------------------------------------------------


class AddressesField(forms.CharField):
    """A To, Cc or Bcc field as typed: comma-separated addresses, parsed into Address
    objects. Entries that are not addresses are named in the error; with `lenient` (an
    autosave while the writer is still typing) they are left out instead."""

    def __init__(self, *, lenient: bool = False, **kwargs):
        super().__init__(required=False, max_length=20_000, **kwargs)
        self.lenient = lenient

    def clean(self, value):
        text = super().clean(value)
        try:
            return addresses_parse(text, skip_invalid=self.lenient)
        except InvalidAddresses as exc:
            entries = ", ".join(f"“{entry}”" for entry in exc.entries)
            raise ValidationError(
                ngettext(
                    "%(entries)s is not a valid address.",
                    "%(entries)s are not valid addresses.",
                    len(exc.entries),
                ),
                code="invalid_addresses",
                params={"entries": entries},
            ) from None


class ComposeForm(forms.Form):
    """The compose form. What the writer types is checked here; the hidden fields (the
    compose area, the saved draft, what the message answers) are written by our own page,
    and a bad value there is a forged or broken request."""

    compose = forms.RegexField(regex=r"^[0-9a-f]{32}$", widget=forms.HiddenInput)
    identity = forms.TypedChoiceField(label=_("From"), coerce=int)
    to = AddressesField(label=_("To"))
    cc = AddressesField(label=_("Cc"))
    bcc = AddressesField(label=_("Bcc"))
    subject = forms.CharField(label=_("Subject"), required=False, max_length=1000)
    body = forms.CharField(
        label=_("Message"), required=False, strip=False, widget=forms.Textarea(attrs={"rows": 18})
    )
    html = forms.CharField(required=False, strip=False, widget=forms.Textarea)
    mode = forms.ChoiceField(
        label=_("Format"),
        choices=[("text", _("Plain text")), ("html", _("Formatted (HTML)"))],
        required=False,
        widget=forms.RadioSelect,
    )
    draft_uid = forms.IntegerField(
        min_value=1, max_value=UID_MAX, required=False, widget=forms.HiddenInput
    )
    draft_uidvalidity = forms.IntegerField(
        min_value=1, max_value=UID_MAX, required=False, widget=forms.HiddenInput
    )
    in_reply_to = forms.CharField(required=False, max_length=1000, widget=forms.HiddenInput)
    references = forms.CharField(required=False, max_length=20_000, widget=forms.HiddenInput)
    answers_kind = forms.ChoiceField(
        choices=[("", ""), (REPLY, REPLY), (FORWARD, FORWARD)],
        required=False,
        widget=forms.HiddenInput,
    )
    answers_folder = FolderField(required=False, widget=forms.HiddenInput)
    answers_uidvalidity = forms.IntegerField(
        min_value=1, max_value=UID_MAX, required=False, widget=forms.HiddenInput
    )
    answers_uid = forms.IntegerField(
        min_value=1, max_value=UID_MAX, required=False, widget=forms.HiddenInput
    )
    back = FolderField(required=False, widget=forms.HiddenInput)  # the folder to return to

    HIDDEN = (
        "compose", "draft_uid", "draft_uidvalidity", "in_reply_to", "references",
        "answers_kind", "answers_folder", "answers_uidvalidity", "answers_uid", "back",
    )  # fmt: skip

    def __init__(self, *args, identities=(), lenient: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["identity"].choices = [(i.pk, str(i)) for i in identities]
        for name in ("to", "cc", "bcc"):
            self.fields[name].lenient = lenient
            self.fields[name].widget.attrs.update(
                {"autocomplete": "off", "spellcheck": "false", "data-suggest": ""}
            )
        self.fields["subject"].widget.attrs["autocomplete"] = "off"

    def hidden_errors(self) -> bool:
        """Whether a field only our page fills in is wrong: a forged or broken request."""
        return any(name in self.errors for name in self.HIDDEN)

    def clean(self):
        data = super().clean()
        if data.get("mode") != "html":
            data["html"] = None
        if data.get("answers_kind") and all(
            data.get(name) for name in ("answers_folder", "answers_uidvalidity", "answers_uid")
        ):
            data["answers"] = Answers(
                folder=data["answers_folder"],
                uidvalidity=data["answers_uidvalidity"],
                uid=data["answers_uid"],
                kind=data["answers_kind"],
            )
        else:
            data["answers"] = None
        ids = message_ids_parse(data.get("in_reply_to"))
        data["in_reply_to"] = ids[0] if ids else None
        data["references"] = message_ids_parse(data.get("references"))
        uid, uidvalidity = data.get("draft_uid"), data.get("draft_uidvalidity")
        data["replaces"] = DraftRef(uidvalidity, uid) if uid and uidvalidity else None
        return data

    def draft_fields(self) -> dict:
        """The keyword arguments of compose.draft_make."""
        data = self.cleaned_data
        return {
            "identity_id": data["identity"],
            "to": data["to"],
            "cc": data["cc"],
            "bcc": data["bcc"],
            "subject": data["subject"],
            "text": data["body"],
            "html": data["html"],
            "in_reply_to": data["in_reply_to"],
            "references": data["references"],
            "answers": data["answers"],
        }


def compose_initial(started: ComposeStart, *, compose_id: str, back: str) -> dict:
    """The compose form's values for a message compose_start made. Plain text first: the
    HTML editor takes over in the browser (without script, the text is what is sent)."""
    draft, answers, replaces = started.draft, started.draft.answers, started.replaces
    return {
        "compose": compose_id,
        "identity": started.identity_id,
        "to": addresses_text(draft.to),
        "cc": addresses_text(draft.cc),
        "bcc": addresses_text(draft.bcc),
        "subject": draft.subject,
        "body": draft.text or (html_to_text(draft.html) if draft.html else ""),
        "mode": "text",
        "draft_uid": replaces.uid if replaces else None,
        "draft_uidvalidity": replaces.uidvalidity if replaces else None,
        "in_reply_to": draft.in_reply_to or "",
        "references": " ".join(draft.references),
        "answers_kind": answers.kind if answers else "",
        "answers_folder": answers.folder if answers else "",
        "answers_uidvalidity": answers.uidvalidity if answers else None,
        "answers_uid": answers.uid if answers else None,
        "back": back,
    }


# -- a POP3 account's server copies ---------------------------------------------------------

KEEP_EXPLAINED = {
    Pop3Keep.DELETE_AFTER_DOWNLOAD: _(
        "Postfach keeps the message and deletes the server copy soon after downloading it."
    ),
    Pop3Keep.KEEP_DAYS: _(
        "The server copy is deleted that many days after Postfach stored the message; "
        "other devices can still fetch it until then."
    ),
    Pop3Keep.KEEP_UNTIL_DELETED: _(
        "The server copy stays until you delete the message here for good (also from the Trash)."
    ),
    Pop3Keep.KEEP_FOREVER: _(
        "Postfach never deletes a server copy; the server mailbox may fill up."
    ),
}
LEDGER_IDS_MAX = 10_000  # what one confirmed cleanup deletes at most


class MegabytesField(forms.IntegerField):
    """A size in MB the reader may leave blank."""

    def __init__(self, **kwargs):
        super().__init__(
            required=False,
            min_value=1,
            max_value=100_000_000,
            error_messages={
                "invalid": _("Enter the size in MB as a whole number."),
                "min_value": _("Enter at least 1 MB, or leave the field blank."),
                "max_value": _("Enter at most %(limit_value)s MB."),
            },
            **kwargs,
        )


class Pop3PolicyForm(forms.Form):
    """What happens to a POP3 account's server copies. `confirmed` comes from the
    confirmation step a change that deletes more than before goes through."""

    keep = forms.ChoiceField(
        label=_("What happens to the copy on the server once a message is here"),
        choices=Pop3Keep.choices,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose what happens to the copies on the server.")},
    )
    keep_days = forms.IntegerField(
        label=_("Days to keep"),
        required=False,
        min_value=1,
        max_value=36_500,
        error_messages={
            "invalid": _("Enter the days as a whole number."),
            "min_value": _("Keep server copies for at least 1 day."),
            "max_value": _("Enter at most 36500 days."),
        },
    )
    delete_larger_than_mb = MegabytesField(
        label=_("Also delete server copies larger than (MB)"),
        help_text=_("Whatever you chose above. Left blank, the size does not matter."),
    )
    quota_mb = MegabytesField(
        label=_("Server storage limit (MB)"),
        help_text=_(
            "Your provider tells you this figure: POP3 servers cannot. Left blank, no "
            "usage bar is shown."
        ),
    )
    warn_by_mail = forms.BooleanField(
        label=_("Also warn me by mail when the server is 80% or 95% full"), required=False
    )
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    @classmethod
    def for_policy(cls, policy: Pop3Policy) -> "Pop3PolicyForm":
        return cls(
            initial={
                "keep": policy.keep,
                "keep_days": policy.keep_days,
                "delete_larger_than_mb": policy.delete_larger_than_mb,
                "quota_mb": policy.quota_mb,
                "warn_by_mail": policy.warn_by_mail,
            }
        )

    def clean(self):
        data = super().clean()
        if data.get("keep") == Pop3Keep.KEEP_DAYS and not data.get("keep_days"):
            if not self.has_error("keep_days"):
                self.add_error("keep_days", _("Enter how many days to keep server copies."))
        return data

    def keep_options(self) -> list[tuple]:
        """Each radio button with its one-line explanation, for the template."""
        return [(radio, KEEP_EXPLAINED[radio.data["value"]]) for radio in self["keep"]]

    def unsaved_policy(self, current: Pop3Policy) -> Pop3Policy:
        """The account's policy as this form would change it, not saved: what the
        cleanup plan is asked about before the change is made."""
        data = self.cleaned_data
        return Pop3Policy(
            account_id=current.account_id,
            keep=data["keep"],
            keep_days=data["keep_days"] or current.keep_days,
            delete_larger_than_mb=data["delete_larger_than_mb"],
            quota_mb=data["quota_mb"],
            warn_by_mail=data["warn_by_mail"],
        )

    def confirmation_fields(self) -> list[tuple[str, str]]:
        """The values to post again from the confirmation step."""
        fields = [
            (name, "" if self.cleaned_data[name] is None else str(self.cleaned_data[name]))
            for name in ("keep", "keep_days", "delete_larger_than_mb", "quota_mb")
        ]
        if self.cleaned_data["warn_by_mail"]:
            fields.append(("warn_by_mail", "on"))
        return [*fields, ("confirmed", "1")]


class LedgerIdsField(forms.CharField):
    """The server copies a cleanup preview showed, as the ids of their ledger rows,
    space-separated in one field (a list of thousands of fields would pass Django's
    field limit)."""

    def to_python(self, value):
        text = super().to_python(value)
        try:
            ids = sorted({int(item) for item in text.split()})
        except ValueError:
            raise ValidationError("not a ledger id") from None
        if len(ids) > LEDGER_IDS_MAX or any(item < 1 for item in ids):
            raise ValidationError("not a ledger id")
        return ids


class CleanupConfirmForm(forms.Form):
    ledger_ids = LedgerIdsField(max_length=LEDGER_IDS_MAX * 21)
