"""What the organising pages post. Fields a page fills in itself (folder, UIDVALIDITY, the
selected UIDs) are checked strictly: a bad value there means a forged or broken request,
which the views answer with 400. Names the reader types get their own messages."""

import re

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

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
