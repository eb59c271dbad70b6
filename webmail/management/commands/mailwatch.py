"""`manage.py mailwatch`: the watcher process (IMAP IDLE on recently active INBOXes, see
webmail.services.watch). Runs until SIGTERM or SIGINT (Ctrl-C, or honcho stopping it)."""

import signal
import threading

from django.core.management.base import BaseCommand

from webmail.services.watch import accounts_watch


class Command(BaseCommand):
    help = "Hold IMAP IDLE on the INBOX of recently active accounts and queue their sync."

    def handle(self, *args, **options):
        stop = threading.Event()

        def request_stop(signum, frame):
            stop.set()  # the supervisor finishes its turn, then logs every watcher out

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        accounts_watch(stop=stop)
