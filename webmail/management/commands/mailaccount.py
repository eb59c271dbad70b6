"""`manage.py mailaccount add|list|rotate-key|sync|fetch|cleanup|retention|migrate|policy`: the account services
for admins and scripts."""

import argparse
import sys

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.models import MailAccount
from webmail.models import Pop3Keep, Pop3Migration
from webmail.protocols.errors import MailServerError
from webmail.services.accounts import (
    mail_account_add,
    mail_account_error_message,
    mail_credentials_rotate,
)
from webmail.services.pop3_cleanup import pop3_cleanup
from webmail.services.pop3_fetch import pop3_fetch
from webmail.services.pop3_migration import (
    pop3_migration_failed,
    pop3_migration_run,
    pop3_migration_start,
)
from webmail.services.pop3_policy import pop3_cleanup_plan, pop3_policy_get, pop3_policy_set
from webmail.services.retention import retention_plan, retention_run
from webmail.services.sync import account_sync

SECURITY = [choice for choice, _label in MailAccount.Security.choices]


def port(value: str) -> int:
    """argparse type: a TCP port, refused at once rather than after a confusing connect."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port from 1 to 65535")
    return number


class Command(BaseCommand):
    help = "Add and list mail accounts, and re-encrypt their passwords under a new key."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)

        add = actions.add_parser(
            "add", help="add a mail account after logging in to its incoming and SMTP servers"
        )
        add.add_argument("--user", required=True, help="the Postfach user's name")
        add.add_argument("--email", required=True)
        add.add_argument("--name", default="", help="display name for sent mail")
        add.add_argument("--protocol", choices=["imap", "pop3"], default="imap")
        add.add_argument("--host", required=True)
        add.add_argument("--port", type=port, required=True)
        add.add_argument("--security", choices=SECURITY, required=True)
        add.add_argument("--login", help="login name (default: the email address)")
        add.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from the first line of standard input (required)",
        )
        add.add_argument("--smtp-host", default="")
        add.add_argument(
            "--smtp-port", type=port, help="default: 465, 587 or 25 by --smtp-security"
        )
        add.add_argument("--smtp-security", choices=SECURITY, default="starttls")
        add.add_argument(
            "--smtp-login",
            default="",
            help="SMTP login, if not the incoming one; its password is read from the second "
            "line of standard input",
        )
        add.add_argument(
            "--no-check",
            action="store_true",
            help="save without logging in first (neither incoming nor SMTP)",
        )

        actions.add_parser("list", help="list every mail account")
        actions.add_parser(
            "rotate-key",
            help="re-encrypt every stored password under the first MAIL_CREDENTIALS_KEY",
        )
        sync = actions.add_parser(
            "sync", help="bring an IMAP account's local index up to date now, and say what changed"
        )
        sync.add_argument("account", help="the account's id or email address")
        fetch = actions.add_parser(
            "fetch", help="download a POP3 account's new mail now, and say what came"
        )
        fetch.add_argument("account", help="the account's id or email address")
        fetch.add_argument("--max-messages", type=int, help="download at most this many")
        fetch.add_argument("--max-bytes", type=int, help="download at most this many bytes")
        cleanup = actions.add_parser(
            "cleanup",
            help="delete from a POP3 server the copies the account's policy allows, "
            "and say what went",
        )
        cleanup.add_argument("account", help="the account's id or email address")
        cleanup.add_argument(
            "--dry-run",
            action="store_true",
            help="list what the policy would delete and the space it frees; delete nothing",
        )
        retention = actions.add_parser(
            "retention",
            help="run an IMAP account's retention rules: move or delete old or large mail "
            "on the server, and say what went",
        )
        retention.add_argument("account", help="the account's id or email address")
        retention.add_argument(
            "--dry-run",
            action="store_true",
            help="list what the rules would move or delete and the space it frees; change nothing",
        )
        migrate = actions.add_parser(
            "migrate",
            help="move a POP3 account to IMAP: copy its stored mail to the IMAP server, "
            "then switch it over (resumes where a previous run stopped)",
        )
        migrate.add_argument("account", help="the account's id or email address")
        migrate.add_argument("--imap-host", required=True)
        migrate.add_argument("--imap-port", type=port, required=True)
        migrate.add_argument("--security", choices=SECURITY, required=True)
        migrate.add_argument("--login", help="IMAP login (default: the account's login)")
        migrate.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the IMAP password from the first line of standard input (required)",
        )
        policy = actions.add_parser(
            "policy", help="show or set what a POP3 account keeps on its server"
        )
        policy.add_argument("account", help="the account's id or email address")
        keep = policy.add_mutually_exclusive_group()
        keep.add_argument("--keep-days", type=int, metavar="N", help="keep N days, then delete")
        keep.add_argument("--delete-after-download", action="store_true")
        keep.add_argument("--keep-until-deleted", action="store_true")
        keep.add_argument("--keep-forever", action="store_true")
        policy.add_argument(
            "--delete-larger-than-mb",
            type=int,
            metavar="MB",
            help="also delete server copies larger than MB after download (0: off)",
        )

    def handle(self, *args, action, **options):
        return getattr(self, "handle_" + action.replace("-", "_"))(**options)

    def handle_add(self, **options):
        if not options["password_stdin"]:
            raise CommandError(
                "Give the password on standard input with --password-stdin "
                "(never on the command line, where other users can see it)."
            )
        lines = sys.stdin.read().splitlines()
        if not lines or not lines[0]:
            raise CommandError("No password on standard input.")
        smtp_password = ""
        if options["smtp_login"]:
            if len(lines) < 2 or not lines[1]:
                raise CommandError("--smtp-login needs the SMTP password on the second line.")
            smtp_password = lines[1]
        try:
            user = get_user_model().objects.get(username=options["user"])
        except get_user_model().DoesNotExist:
            raise CommandError(f"No Postfach user named {options['user']!r}.") from None
        try:
            account = mail_account_add(
                user=user,
                email=options["email"],
                display_name=options["name"],
                protocol=options["protocol"],
                host=options["host"],
                port=options["port"],
                security=options["security"],
                login=options["login"] or options["email"],
                password=lines[0],
                smtp_host=options["smtp_host"],
                smtp_port=options["smtp_port"],
                smtp_security=options["smtp_security"],
                smtp_login=options["smtp_login"],
                smtp_password=smtp_password,
                check=not options["no_check"],
            )
        except MailServerError as exc:
            raise CommandError(f"Not added: {mail_account_error_message(exc)}") from None
        except ValidationError as exc:
            problems = "; ".join(
                f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items()
            )
            raise CommandError(f"Not added: {problems}") from None
        self.stdout.write(f"Added mail account {account.pk}: {account.email} for {user.username}")

    def handle_list(self, **options):
        accounts = MailAccount.objects.select_related("user").order_by("id")
        if not accounts:
            self.stdout.write("No mail accounts.")
            return
        self.stdout.write(f"{'ID':>4}  {'USER':<16} {'EMAIL':<32} {'PROTO':<5} SERVER")
        for a in accounts:
            self.stdout.write(
                f"{a.pk:>4}  {a.user.username:<16} {a.email:<32} {a.protocol:<5} "
                f"{a.incoming_host}:{a.incoming_port} ({a.incoming_security})"
            )

    def handle_rotate_key(self, **options):
        count = mail_credentials_rotate()
        self.stdout.write(f"Re-encrypted the passwords of {count} mail account(s).")

    def handle_sync(self, *, account, **options):
        target = _account_find(account)
        report = account_sync(target)
        if report.already_running:
            raise CommandError(f"A sync of {target.email} is running already; try again later.")
        state = "Synced" if report.complete else "Stopped syncing"
        self.stdout.write(f"{state} {target.email} (account {target.pk}) in {report.seconds:.2f} s")
        self.stdout.write(
            f"folders:  {report.folders} ({report.folders_created} new, "
            f"{report.folders_renamed} renamed, {report.folders_deleted} deleted, "
            f"{report.folders_rebuilt} rebuilt)"
        )
        self.stdout.write(
            f"messages: {report.new} new, {report.changed} changed, {report.vanished} vanished"
        )
        if report.error:
            raise CommandError(f"Sync failed: {report.error}")

    def handle_fetch(self, *, account, max_messages, max_bytes, **options):
        target = _account_find(account)
        if target.protocol != MailAccount.Protocol.POP3:
            raise CommandError(f"{target.email} is an IMAP account; use 'sync'.")
        report = pop3_fetch(account=target, max_messages=max_messages, max_bytes=max_bytes)
        if report.already_running:
            raise CommandError(f"A job of {target.email} is running already; try again later.")
        state = "Fetched" if report.complete else "Stopped fetching"
        self.stdout.write(f"{state} {target.email} (account {target.pk}) in {report.seconds:.2f} s")
        self.stdout.write(
            f"messages: {report.listed} on the server, {report.new} new, {report.linked} "
            f"stored already, {report.duplicates} with a duplicate UIDL, {report.left} left "
            f"for the next fetch ({report.octets} bytes downloaded)"
        )
        if not report.uidl_supported:
            self.stdout.write("The server gives no UIDLs: download-and-delete only.")
        if report.error:
            raise CommandError(f"Fetch failed: {report.error}")

    def handle_cleanup(self, *, account, dry_run, **options):
        target = _pop3_account_find(account)
        if dry_run:
            plan = pop3_cleanup_plan(account=target)
            self.stdout.write(f"{target.email} (account {target.pk}): {_policy_text(plan.policy)}")
            for item in plan.items:
                when = item.date.strftime("%Y-%m-%d") if item.date else "----------"
                self.stdout.write(
                    f"  {when}  {item.size:>10}  {item.sender[:30]:<30}  {item.subject[:60]}"
                )
            self.stdout.write(
                f"{len(plan.items)} message(s) would be deleted from the server; that "
                f"would free {plan.octets} bytes. Nothing was deleted (dry run)."
            )
            return
        report = pop3_cleanup(account=target)
        if report.already_running:
            raise CommandError(f"A job of {target.email} is running already; try again later.")
        self.stdout.write(
            f"Cleaned up {target.email} (account {target.pk}) in {report.seconds:.2f} s: "
            f"{report.deleted} deleted from the server ({report.octets_freed} bytes freed), "
            f"{report.unknown} unconfirmed, {report.left} left for the next cleanup, "
            f"{len(report.skipped)} kept because a check failed"
        )
        for uidl, reason in report.skipped:
            self.stdout.write(f"  kept {uidl}: {reason}")
        if report.refused:
            raise CommandError(f"Nothing deleted: {report.refused}")
        if report.error:
            raise CommandError(f"Cleanup failed: {report.error}")

    def handle_retention(self, *, account, dry_run, **options):
        """Like `cleanup`: the dry run is the preview of every rule (which also lets the
        schedule run the enabled ones); without it, the enabled, previewed rules run."""
        target = _account_find(account)
        if target.protocol != MailAccount.Protocol.IMAP:
            raise CommandError(f"{target.email} is a POP3 account; this is for IMAP accounts.")
        if dry_run:
            try:
                plan = retention_plan(account=target)
            except MailServerError as exc:
                raise CommandError(f"Preview failed: {mail_account_error_message(exc)}") from exc
            for rule_plan in plan.rules:
                state = "on" if rule_plan.rule.enabled else "off"
                self.stdout.write(f"{rule_plan.text} ({state})")
                for item in rule_plan.messages:
                    when = item.date.strftime("%Y-%m-%d") if item.date else "----------"
                    self.stdout.write(
                        f"  {when}  {item.size:>10}  {item.folder[:20]:<20}  "
                        f"{item.sender[:30]:<30}  {item.subject[:60]}"
                    )
                if rule_plan.left:
                    self.stdout.write(f"  and {rule_plan.left} more in later runs")
                if rule_plan.error:
                    self.stdout.write(f"  problem: {rule_plan.error}")
            self.stdout.write(
                f"{plan.count} message(s) would be moved or deleted; that would free "
                f"{plan.octets} bytes. Nothing was changed (dry run)."
            )
            if any(rule_plan.error for rule_plan in plan.rules):
                raise CommandError("Some rules cannot run.")
            return
        report = retention_run(account=target)
        if report.already_running:
            raise CommandError(f"A job of {target.email} is running already; try again later.")
        self.stdout.write(
            f"Ran the retention rules of {target.email} (account {target.pk}) in "
            f"{report.seconds:.2f} s: {report.moved} moved, {report.deleted} deleted "
            f"({report.octets} bytes), {report.left} left for the next run"
        )
        if report.errors:
            raise CommandError("Retention failed: " + "; ".join(report.errors))

    def handle_migrate(self, *, account, imap_host, imap_port, security, login, **options):
        target = _pop3_account_find(account)
        if not options["password_stdin"]:
            raise CommandError("Give the IMAP password on standard input with --password-stdin.")
        lines = sys.stdin.read().splitlines()
        if not lines or not lines[0]:
            raise CommandError("No password on standard input.")
        try:
            migration = pop3_migration_start(
                account=target,
                host=imap_host,
                port=imap_port,
                security=security,
                login=login or target.incoming_login,
                password=lines[0],
            )
        except MailServerError as exc:
            raise CommandError(f"Not started: {mail_account_error_message(exc)}") from None
        self.stdout.write(
            f"Moving {target.email} (account {target.pk}) to IMAP on {imap_host}: "
            f"{migration.total} messages"
        )
        done = -1
        while migration.state == Pop3Migration.State.RUNNING:
            before = done
            migration = pop3_migration_run(account=target)
            done = migration.copied + migration.already_there + migration.failed
            self.stdout.write(f"{done} of {migration.total} messages done")
            if done == before and migration.state == Pop3Migration.State.RUNNING:
                raise CommandError(f"A job of {target.email} is running; try again later.")
        self.stdout.write(
            f"copied: {migration.copied}, already there: {migration.already_there}, "
            f"failed: {migration.failed}"
        )
        for row in pop3_migration_failed(migration=migration, limit=migration.failed):
            self.stdout.write(f"  not copied: {row.folder}: {row.subject!r}: {row.reason}")
        if migration.state == Pop3Migration.State.FAILED:
            raise CommandError(f"Stopped: {migration.error} Run the command again to resume.")
        if migration.state == Pop3Migration.State.DONE:
            self.stdout.write(f"{target.email} is an IMAP account now; local copies are kept.")
        if migration.failed:
            raise CommandError(f"{migration.failed} messages stay here only (see above).")

    def handle_policy(self, *, account, **options):
        target = _pop3_account_find(account)
        policy = pop3_policy_get(account=target)
        keep, days = policy.keep, None
        if options["keep_days"] is not None:
            if options["keep_days"] < 1:
                raise CommandError("--keep-days needs at least 1 day.")
            keep, days = Pop3Keep.KEEP_DAYS, options["keep_days"]
        elif options["delete_after_download"]:
            keep = Pop3Keep.DELETE_AFTER_DOWNLOAD
        elif options["keep_until_deleted"]:
            keep = Pop3Keep.KEEP_UNTIL_DELETED
        elif options["keep_forever"]:
            keep = Pop3Keep.KEEP_FOREVER
        larger = options["delete_larger_than_mb"]
        policy = pop3_policy_set(
            account=target,
            keep=keep,
            keep_days=days,
            delete_larger_than_mb=policy.delete_larger_than_mb if larger is None else larger,
        )
        self.stdout.write(f"{target.email} (account {target.pk}): {_policy_text(policy)}")


def _policy_text(policy) -> str:
    text = {
        Pop3Keep.DELETE_AFTER_DOWNLOAD: "server copies are deleted after download",
        Pop3Keep.KEEP_DAYS: f"server copies are kept {policy.keep_days} days",
        Pop3Keep.KEEP_UNTIL_DELETED: "server copies are kept until deleted here",
        Pop3Keep.KEEP_FOREVER: "server copies are kept forever",
    }[policy.keep]
    if policy.delete_larger_than_mb:
        text += f"; those larger than {policy.delete_larger_than_mb} MB are deleted"
    return text


def _pop3_account_find(key: str) -> MailAccount:
    target = _account_find(key)
    if target.protocol != MailAccount.Protocol.POP3:
        raise CommandError(f"{target.email} is an IMAP account; this is for POP3 accounts.")
    return target


def _account_find(key: str) -> MailAccount:
    """An account by id, or by email address when exactly one account has it."""
    if key.isdigit():
        account = MailAccount.objects.filter(pk=int(key)).first()
    else:
        found = list(MailAccount.objects.filter(email__iexact=key).order_by("pk")[:2])
        if len(found) > 1:
            ids = ", ".join(str(a.pk) for a in MailAccount.objects.filter(email__iexact=key))
            raise CommandError(f"Several accounts have the address {key}; give an id ({ids}).")
        account = found[0] if found else None
    if account is None:
        raise CommandError(f"No mail account {key!r}.")
    return account
