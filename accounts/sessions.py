"""Signing a user out on every device."""

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.utils import timezone

from .audit import audit_record
from .models import AuditEvent


def user_sessions_end(*, user, request=None) -> int:
    """Deletes every unexpired session signed in as `user` (the caller's own included) and
    returns how many. The sessions live in the database (SESSION_ENGINE is Django's
    default), which stores them unindexed by user, so each is decoded: a scan of the
    active sessions, fine for an action a person takes now and then."""
    user_id = str(user.pk)
    ended = []
    sessions = Session.objects.filter(expire_date__gt=timezone.now()).only(
        "session_key", "session_data"
    )
    for session in sessions.iterator(chunk_size=500):
        if str(session.get_decoded().get(SESSION_KEY)) == user_id:
            ended.append(session.session_key)
    Session.objects.filter(session_key__in=ended).delete()
    audit_record(
        kind=AuditEvent.Kind.SIGN_OUT_EVERYWHERE,
        request=request,
        user=user,
        detail=f"{len(ended)} sessions ended",
    )
    return len(ended)
