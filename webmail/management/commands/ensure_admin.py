"""Creates the first administrator when nobody can sign in yet, and prints its password once."""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create an 'admin' superuser with a random password if no user exists yet."

    def handle(self, *args, **options):
        User = get_user_model()
        if User.objects.exists():
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username="admin", email="", password=password)
        line = "=" * 64
        self.stdout.write(
            f"\n{line}\n  Postfach's first administrator was created.\n"
            f"  user: admin    password: {password}\n"
            "  This password is shown only now. Sign in and change it under Settings.\n"
            f"{line}\n"
        )
