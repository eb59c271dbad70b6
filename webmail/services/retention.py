"""Retention rules for IMAP folders (issue 7): old or large mail deleted or moved on the
server, so the provider's quota does not fill and bounce new mail.

The choices made here:
- A rule's folder "" means anywhere: every selectable folder except the Trash (deleted
  mail is the Trash rule's business, and moving it out would bring it back) and the
  rule's own target folder.
- "delete" removes for good (+FLAGS \\Deleted, then UID EXPUNGE of exactly those UIDs),
  in every folder, not a move to the Trash: a rule exists to free space, and mail moved
  to the Trash still counts against the quota. The preview says so.
- The suggested rules (Trash 30 days, Junk 14 days) are not stored until the user saves
  them (retention_defaults_offer returns unsaved rows); a saved rule is off until the user
  turns it on, and the schedule runs it only after a preview (previewed_at).
- Dates are the server's internal dates (SEARCH BEFORE), never the local index.

A run, per rule and folder (mail-sync.md rule 6):
1. UID SEARCH UNDELETED with the rule's criteria: what others marked \\Deleted is left alone;
2. one audit row per message (outcome "requested"), committed before the server is told;
3. UID MOVE (or COPY + \\Deleted + UID EXPUNGE), or \\Deleted + UID EXPUNGE, of exactly
   those UIDs, under the UIDVALIDITY they came from (a changed folder is skipped);
4. the audit rows get their outcome and the local index drops or moves the rows.
At most MAX_PER_RULE messages per rule and run; the rest waits for the next run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.crypto import CredentialError
from accounts.models import MailAccount
from webmail import clock
from webmail.models import MESSAGE_ID_LENGTH, RetentionLogEntry, RetentionRule, RetentionSettings
from webmail.protocols import errors
from webmail.protocols.store import FolderSize, MailStore, MessageFacts, Quota

from .errors import ActionNotAllowed, error_message
from .index import index_folder_grew, index_messages_moved, index_messages_removed
from .locks import LockLost, job_lock
from .organise import JUNK, TRASH, folder_roles, special_folder_find
from .stores import store_open
from .sync import LOCK_SECONDS, account_sync_queue

log = logging.getLogger(__name__)

MAX_PER_RULE = 5000  # messages per rule and run; the rest is left for the next run
MB = 1024 * 1024
LARGEST = 10  # folders and messages named when the rules cannot bring usage down
DEFAULT_RULES = ((TRASH, 30), (JUNK, 14))  # (role, days): the suggested delete rules
Action = RetentionRule.Action
Outcome = RetentionLogEntry.Outcome


# -- rules in plain words -------------------------------------------------------------------


def rule_text(rule: RetentionRule) -> str:
    """The rule as the user reads it: "In Trash, delete messages older than 30 days"."""
    days, mb = rule.older_than_days, rule.larger_than_mb
    if days and mb:
        criteria = ngettext(
            "larger than %(mb)d MB and older than %(days)d day",
            "larger than %(mb)d MB and older than %(days)d days",
            days,
        ) % {"mb": mb, "days": days}
    elif mb:
        criteria = _("larger than %(mb)d MB") % {"mb": mb}
    else:
        criteria = ngettext("older than %(days)d day", "older than %(days)d days", days or 0) % {
            "days": days or 0
        }
    values = {"folder": rule.folder, "criteria": criteria, "target": rule.target_folder}
    if rule.action == Action.MOVE:
        if rule.folder:
            return _("In %(folder)s, move messages %(criteria)s to %(target)s") % values
        return _("Anywhere, move messages %(criteria)s to %(target)s") % values
    if rule.folder:
        return _("In %(folder)s, delete messages %(criteria)s") % values
    return _("Anywhere, delete messages %(criteria)s") % values


def retention_rule_check(rule: RetentionRule) -> None:
    """Raises ActionNotAllowed, in the user's words, for a rule that cannot run."""
    if not rule.older_than_days and not rule.larger_than_mb:
        raise ActionNotAllowed(_("Give an age, a size, or both."))
    if rule.action == Action.MOVE:
        if not rule.target_folder:
            raise ActionNotAllowed(_("Choose the folder to move the messages to."))
        if rule.target_folder == rule.folder:
            raise ActionNotAllowed(_("The messages cannot be moved to the folder they are in."))


def retention_defaults_offer(*, account: MailAccount) -> list[RetentionRule]:
    """The suggested rules, unsaved and off: delete in the Trash after 30 days and in Junk
    after 14, for the folders the server has and no rule covers yet."""
    with store_open(account) as store:
        folders = {
            role: special_folder_find(store, role, create=False) for role, _d in DEFAULT_RULES
        }
    taken = set(account.retention_rules.values_list("folder", flat=True))
    return [
        RetentionRule(
            account=account, folder=folders[role], older_than_days=days, action=Action.DELETE
        )
        for role, days in DEFAULT_RULES
        if folders[role] and folders[role] not in taken
    ]


RULE_FIELDS = ("folder", "older_than_days", "larger_than_mb", "action", "target_folder")


def retention_rule_save(
    *, account: MailAccount, rule: RetentionRule | None = None, enabled: bool, **values
) -> RetentionRule:
    """Adds a rule (`rule` None) or changes one. A rule whose criteria change must be
    previewed again before the schedule runs it. Raises ActionNotAllowed for a rule that
    cannot run."""
    if rule is None:
        rule = RetentionRule(account=account)
    elif rule.account_id != account.pk:
        raise ValueError("the rule is another account's")
    before = tuple(getattr(rule, name) for name in RULE_FIELDS)
    rule.folder = values.get("folder") or ""  # "": anywhere
    rule.older_than_days = values.get("older_than_days") or None
    rule.larger_than_mb = values.get("larger_than_mb") or None
    rule.action = values["action"]
    rule.target_folder = values.get("target_folder") or "" if rule.action == Action.MOVE else ""
    retention_rule_check(rule)
    if tuple(getattr(rule, name) for name in RULE_FIELDS) != before:
        rule.previewed_at = None
    rule.enabled = enabled
    rule.save()
    return rule


def retention_defaults_save(*, account: MailAccount) -> list[RetentionRule]:
    """Saves the suggested rules, on (the schedule runs them after their preview)."""
    saved = []
    for rule in retention_defaults_offer(account=account):
        rule.enabled = True
        rule.save()
        saved.append(rule)
    return saved


# -- preview --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedMessage:
    folder: str
    uidvalidity: int
    facts: MessageFacts

    @property
    def uid(self) -> int:
        return self.facts.summary.uid

    @property
    def size(self) -> int:
        return self.facts.summary.size

    @property
    def date(self) -> datetime | None:
        return self.facts.summary.internal_date

    @property
    def sender(self) -> str:
        sender = self.facts.summary.sender
        return str(sender) if sender else ""

    @property
    def subject(self) -> str:
        return self.facts.summary.subject


@dataclass
class RulePlan:
    rule: RetentionRule
    text: str
    messages: list[PlannedMessage] = field(default_factory=list)
    left: int = 0  # matching messages beyond MAX_PER_RULE, for the next run
    error: str = ""

    @property
    def octets(self) -> int:
        return sum(item.size for item in self.messages)


@dataclass
class RetentionPlan:
    rules: list[RulePlan] = field(default_factory=list)

    @property
    def octets(self) -> int:
        return sum(plan.octets for plan in self.rules)

    @property
    def count(self) -> int:
        return sum(len(plan.messages) for plan in self.rules)


def _cutoff(days: int | None) -> date | None:
    """SEARCH BEFORE takes a day: mail received before the day `days` ago."""
    return (clock.now() - timedelta(days=days)).date() if days else None


def _rule_folders(store: MailStore, rule: RetentionRule) -> list[str]:
    if rule.folder:
        return [rule.folder]
    folders = store.folders()
    skip = {name for name, role in folder_roles(folders).items() if role == TRASH}
    skip.add(rule.target_folder)
    return [info.name for info in folders if info.selectable and info.name not in skip]


def _rule_plan(store: MailStore, rule: RetentionRule) -> RulePlan:
    """What the rule matches on the server now, at most MAX_PER_RULE messages (oldest UIDs
    first). A folder that is gone, or a server error, is the plan's error."""
    plan = RulePlan(rule=rule, text=rule_text(rule))
    before = _cutoff(rule.older_than_days)
    larger = rule.larger_than_mb * MB if rule.larger_than_mb else None
    try:
        retention_rule_check(rule)
        for folder in _rule_folders(store, rule):
            uidvalidity, uids = store.retention_search(folder, before=before, larger_than=larger)
            room = MAX_PER_RULE - len(plan.messages)
            plan.left += max(0, len(uids) - room)
            if uids[:room]:
                facts = store.messages_facts(folder, uids[:room], uidvalidity=uidvalidity)
                plan.messages += [PlannedMessage(folder, uidvalidity, fact) for fact in facts]
    except errors.FolderNotFound:
        plan.error = _("The folder %(folder)s does not exist on the server.") % {
            "folder": rule.folder
        }
    except ActionNotAllowed as exc:
        plan.error = str(exc)
    return plan


def _rules(account: MailAccount, rule: RetentionRule | None) -> list[RetentionRule]:
    if rule is not None:
        if rule.account_id != account.pk:
            raise ValueError("the rule is another account's")
        return [rule]
    return list(account.retention_rules.order_by("pk"))


def retention_plan(
    *, account: MailAccount, rule: RetentionRule | None = None, record: bool = True
) -> RetentionPlan:
    """The preview: per rule (`rule`, or all the account's rules), the messages on the
    server it would move or delete now and the bytes that frees. Deletes nothing. With
    `record`, the rules count as previewed, so the schedule may run them."""
    rules = _rules(account, rule)
    plan = RetentionPlan()
    with store_open(account) as store:
        for each in rules:
            plan.rules.append(_rule_plan(store, each))
    if record and rules:
        RetentionRule.objects.filter(pk__in=[r.pk for r in rules]).update(previewed_at=clock.now())
    return plan


# -- running --------------------------------------------------------------------------------


@dataclass
class RetentionReport:
    account_id: int
    started: bool = True
    moved: int = 0
    deleted: int = 0
    octets: int = 0
    left: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)  # "rule text: problem"
    seconds: float = 0.0

    @property
    def already_running(self) -> bool:
        return not self.started

    @property
    def ok(self) -> bool:
        return self.started and not self.errors


def retention_run(
    *, account: MailAccount, confirmed: Collection[int] | None = None
) -> RetentionReport:
    """Runs the account's rules on its server; see the module's docstring. Without
    `confirmed`: every enabled rule that has been previewed (the schedule). With it: those
    rules of the account (ids), which the user confirmed after a preview ("free space
    now"). Never beside a sync of the same account (its job lock)."""
    if account.protocol != MailAccount.Protocol.IMAP:
        raise ValueError("retention rules are for IMAP accounts")
    report = RetentionReport(account_id=account.pk)
    rules = account.retention_rules.order_by("pk")
    if confirmed is None:
        rules = rules.filter(enabled=True, previewed_at__isnull=False)
    else:
        rules = rules.filter(pk__in=list(confirmed))
    rules = list(rules)
    started = time.monotonic()
    with job_lock(f"account-sync:{account.pk}", timeout=LOCK_SECONDS) as lock:
        if lock is None:
            report.started = False
            return report
        try:
            if rules:
                with store_open(account) as store:
                    for rule in rules:
                        _rule_run(account, store, rule, report)
                        lock.refresh()
        except LockLost:
            log.warning("account %s: retention lock expired; stopped", account.pk)
        except (errors.MailServerError, CredentialError) as exc:
            report.errors.append(error_message(exc))
            log.info("account %s: retention failed: %s", account.pk, getattr(exc, "code", exc))
        finally:
            report.seconds = time.monotonic() - started
    if report.moved or report.deleted:
        account_sync_queue([account])
    log.info(
        "account %s: retention: %d moved, %d deleted (%d bytes), %d failed, %d left",
        account.pk, report.moved, report.deleted, report.octets, report.failed, report.left,
    )  # fmt: skip
    return report


def _rule_run(
    account: MailAccount, store: MailStore, rule: RetentionRule, report: RetentionReport
) -> None:
    plan = _rule_plan(store, rule)
    problems = [plan.error] if plan.error else []
    report.left += plan.left
    by_folder: dict[tuple[str, int], list[PlannedMessage]] = {}
    for item in plan.messages:
        by_folder.setdefault((item.folder, item.uidvalidity), []).append(item)
    for (folder, uidvalidity), items in by_folder.items():
        try:
            _folder_act(account, store, rule, plan.text, folder, uidvalidity, items, report)
        except errors.FolderChanged:
            problems.append(_("%(folder)s changed on the server; skipped.") % {"folder": folder})
        except (errors.ActionRefused, errors.FolderNotFound, errors.NotSupported) as exc:
            problems.append(f"{folder}: {error_message(exc)}")
    error = " ".join(problems)
    report.errors += [f"{plan.text}: {problem}" for problem in problems]
    RetentionRule.objects.filter(pk=rule.pk).update(last_run_at=clock.now(), last_error=error)


def _folder_act(
    account: MailAccount,
    store: MailStore,
    rule: RetentionRule,
    text: str,
    folder: str,
    uidvalidity: int,
    items: list[PlannedMessage],
    report: RetentionReport,
) -> None:
    now = clock.now()
    moving = rule.action == Action.MOVE
    with transaction.atomic():
        rows = RetentionLogEntry.objects.bulk_create(
            [
                RetentionLogEntry(
                    account=account,
                    account_email=account.email,
                    rule=rule,
                    rule_text=text[:500],
                    folder=folder,
                    uidvalidity=uidvalidity,
                    uid=item.uid,
                    message_id=item.facts.message_id[:MESSAGE_ID_LENGTH],
                    subject=item.subject,
                    size=item.size,
                    action=rule.action,
                    target_folder=rule.target_folder if moving else "",
                    requested_at=now,
                )
                for item in items
            ]
        )
    ids = [row.pk for row in rows]
    uids = [item.uid for item in items]
    try:
        if moving:
            result = store.messages_move_mapped(
                folder, uids, rule.target_folder, uidvalidity=uidvalidity
            )
            done = result.uids
        else:
            done = store.messages_expunge(folder, uids, uidvalidity=uidvalidity)
    except Exception:
        RetentionLogEntry.objects.filter(pk__in=ids).update(outcome=Outcome.FAILED)
        report.failed += len(ids)
        raise
    # Already gone (another client removed it meanwhile) counts as done: it no longer
    # takes space, which is what the rule wanted.
    RetentionLogEntry.objects.filter(pk__in=ids).update(outcome=Outcome.DONE)
    sizes = {item.uid: item.size for item in items}
    report.octets += sum(sizes.get(uid, 0) for uid in done)
    if moving:
        report.moved += len(done)
        relinked = index_messages_moved(
            account=account,
            folder=folder,
            uidvalidity=uidvalidity,
            target=rule.target_folder,
            target_uidvalidity=result.target_uidvalidity,
            new_uids=result.new_uids,
        )
        if relinked:
            return
        index_folder_grew(account=account, folder=rule.target_folder)
    else:
        report.deleted += len(done)
    index_messages_removed(account=account, folder=folder, uidvalidity=uidvalidity, uids=done)


# -- quota ----------------------------------------------------------------------------------


@dataclass
class QuotaStatus:
    quota: Quota | None  # None: the server sets no storage limit or cannot tell
    threshold_percent: int
    rules_free: int = 0  # bytes the enabled rules would free now
    largest_folders: list[FolderSize] = field(default_factory=list)
    largest_messages: list[PlannedMessage] = field(default_factory=list)

    @property
    def percent(self) -> float | None:
        return self.quota.fraction * 100 if self.quota else None

    @property
    def above(self) -> bool:
        return self.percent is not None and self.percent > self.threshold_percent

    @property
    def percent_after_rules(self) -> float | None:
        if not self.quota:
            return None
        return max(0, self.quota.used_bytes - self.rules_free) * 100 / self.quota.limit_bytes

    @property
    def still_above(self) -> bool:
        after = self.percent_after_rules
        return after is not None and after > self.threshold_percent


def retention_threshold(*, account: MailAccount) -> int:
    found = RetentionSettings.objects.filter(account=account).first()
    return found.quota_threshold_percent if found else 90


def retention_quota_status(*, account: MailAccount) -> QuotaStatus:
    """Usage (GETQUOTAROOT), the user's threshold, what the enabled rules would free, and,
    when usage stays above the threshold even after them, the largest folders and
    messages (RFC822.SIZE summed per folder)."""
    status = QuotaStatus(quota=None, threshold_percent=retention_threshold(account=account))
    with store_open(account) as store:
        status.quota = store.quota()
        if not status.above:
            return status
        for rule in account.retention_rules.filter(enabled=True).order_by("pk"):
            status.rules_free += _rule_plan(store, rule).octets
        if not status.still_above:
            return status
        sizes = []
        for info in store.folders():
            if info.selectable and info.messages:
                try:
                    sizes.append(store.folder_size(info.name, largest=LARGEST))
                except errors.FolderNotFound:
                    continue  # deleted since the LIST
        sizes.sort(key=lambda size: -size.octets)
        status.largest_folders = sizes[:LARGEST]
        biggest = sorted(
            ((size, uid, octets) for size in sizes for uid, octets in size.largest),
            key=lambda found: -found[2],
        )[:LARGEST]
        for size, uid, _octets in biggest:
            for fact in store.messages_facts(size.name, [uid], uidvalidity=size.uidvalidity):
                status.largest_messages.append(PlannedMessage(size.name, size.uidvalidity, fact))
    return status


def retention_accounts_scheduled() -> list[int]:
    """The IMAP accounts with an enabled rule, sync enabled and an active user: the daily
    round's."""
    return list(
        MailAccount.objects.filter(
            protocol=MailAccount.Protocol.IMAP,
            sync_enabled=True,
            user__is_active=True,
            retention_rules__enabled=True,
        )
        .distinct()
        .order_by("pk")
        .values_list("pk", flat=True)
    )
