"""Signal receivers, connected in WebmailConfig.ready()."""

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from webmail.services.sync import account_sync_queue


@receiver(user_logged_in, dispatch_uid="webmail.sync_on_sign_in")
def sync_on_sign_in(sender, request, user, **kwargs) -> None:
    """Someone signing in wants current mail: sync their accounts in the background."""
    account_sync_queue(user.mail_accounts.all())
