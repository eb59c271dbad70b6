"""The local index: a cache of every IMAP folder and the summaries of its messages.

The IMAP server stays the truth; everything here can be dropped and rebuilt from it
(webmail.services.sync keeps it current, ../shared/design/mail-sync.md holds the rules).
Lists, counts and search read these tables once a folder is `fully_indexed`.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import MailAccount

PREVIEW_LENGTH = 200  # characters of body text shown under a subject
MESSAGE_ID_LENGTH = 255


class IndexedFolder(models.Model):
    """One folder of an IMAP account as the last sync saw it.

    Sync state (rule 7 of mail-sync.md): every message with a UID below `uidnext` is in
    the index once `fully_indexed`, and the flags of indexed messages are current as of
    `highestmodseq`; both only advance in the transaction that applies what they cover.
    """

    account = models.ForeignKey(
        MailAccount,
        on_delete=models.CASCADE,
        related_name="indexed_folders",
        verbose_name=_("mail account"),
    )
    name = models.CharField(_("name"), max_length=1000)  # decoded from modified UTF-7
    delimiter = models.CharField(_("hierarchy delimiter"), max_length=1, blank=True)
    special_use = models.CharField(_("special use"), max_length=16, blank=True)
    selectable = models.BooleanField(_("can hold messages"), default=True)

    # 32-bit unsigned values (RFC 3501) and 63-bit mod-sequences (RFC 7162): bigint.
    uidvalidity = models.PositiveBigIntegerField(_("UIDVALIDITY"), default=0)
    uidnext = models.PositiveBigIntegerField(_("UIDNEXT"), default=0)
    highestmodseq = models.PositiveBigIntegerField(_("HIGHESTMODSEQ"), default=0)

    messages = models.PositiveIntegerField(_("messages"), default=0)
    unseen = models.PositiveIntegerField(_("unread"), default=0)
    fully_indexed = models.BooleanField(_("fully indexed"), default=False)
    # Progress of the first sync, for progress bars: indexed_count of total_count.
    indexed_count = models.PositiveIntegerField(_("indexed"), default=0)
    total_count = models.PositiveIntegerField(_("to index"), default=0)
    synced_at = models.DateTimeField(_("synced"), null=True, blank=True)
    # Bumped whenever UIDVALIDITY changes: the UIDs of one generation mean nothing in the
    # next. Counting the changes of the current day lets the sync warn about a server that
    # keeps resetting a folder (each time the whole folder is read again).
    generation = models.PositiveIntegerField(_("generation"), default=0)
    uidvalidity_changes = models.PositiveIntegerField(_("UIDVALIDITY changes"), default=0)
    uidvalidity_changes_since = models.DateTimeField(
        _("UIDVALIDITY changes counted since"), null=True, blank=True
    )
    # Without CONDSTORE only a FLAGS scan sees flags other clients changed: the newest
    # messages at every sync, the whole folder every SYNC_FULL_FLAGS_HOURS. A scan goes
    # in windows of UIDs and resumes at `flags_scan_from` after a time budget ran out.
    flags_scanned_at = models.DateTimeField(_("all flags read"), null=True, blank=True)
    flags_scan_from = models.PositiveBigIntegerField(_("flag scan resumes at UID"), default=0)

    class Meta:
        verbose_name = _("indexed folder")
        verbose_name_plural = _("indexed folders")
        ordering = ["account", "name"]
        constraints = [
            models.UniqueConstraint(fields=["account", "name"], name="indexed_folder_unique_name")
        ]

    def __str__(self):
        return self.name


class IndexedMessage(models.Model):
    """The summary of one message: what lists, counts, threads and search need, never the
    body itself. Keyed by (folder, uid) under the folder's UIDVALIDITY."""

    folder = models.ForeignKey(
        IndexedFolder, on_delete=models.CASCADE, related_name="messages_indexed"
    )
    uid = models.PositiveBigIntegerField(_("UID"))

    # Cut to MESSAGE_ID_LENGTH: longer ids are junk, and the index has a byte limit.
    message_id = models.CharField(_("Message-ID"), max_length=MESSAGE_ID_LENGTH, blank=True)
    in_reply_to = models.CharField(_("In-Reply-To"), max_length=MESSAGE_ID_LENGTH, blank=True)
    references = models.TextField(_("References"), blank=True)  # message ids, space-separated
    subject = models.TextField(_("subject"), blank=True)
    from_name = models.CharField(_("sender name"), max_length=998, blank=True)
    from_addr = models.CharField(_("sender address"), max_length=998, blank=True)
    to = models.TextField(_("to"), blank=True)  # "Name <addr>, ..." (names quoted as needed)
    cc = models.TextField(_("cc"), blank=True)
    date = models.DateTimeField(_("date"), null=True, blank=True)  # Date: header, else internal
    internal_date = models.DateTimeField(_("received"), null=True, blank=True)
    size = models.PositiveBigIntegerField(_("size"), default=0)

    flags = models.TextField(_("flags"), blank=True)  # space-separated, sorted
    seen = models.BooleanField(_("read"), default=False)
    flagged = models.BooleanField(_("flagged"), default=False)
    answered = models.BooleanField(_("answered"), default=False)
    has_attachments = models.BooleanField(_("has attachments"), default=False)

    preview = models.CharField(_("preview"), max_length=PREVIEW_LENGTH, blank=True)
    # The text search looks at (body text start, bounded); search may fill it differently.
    search_text = models.TextField(_("search text"), blank=True)
    # What full-text search matches: sender, recipients, subject and search_text, folded
    # by webmail.search_fold. The FTS5 table (SQLite) or the GIN index (PostgreSQL) made
    # in migration 0002 index this column.
    search_document = models.TextField(_("search document"), blank=True)

    class Meta:
        verbose_name = _("indexed message")
        verbose_name_plural = _("indexed messages")
        constraints = [
            # Also serves newest-first paging by UID (arrival order), scanned backwards.
            models.UniqueConstraint(fields=["folder", "uid"], name="indexed_message_unique_uid")
        ]
        indexes = [
            models.Index(fields=["folder", "-date"], name="indexed_message_by_date"),
            models.Index(fields=["folder", "seen"], name="indexed_message_unseen"),
            models.Index(fields=["message_id"], name="indexed_message_message_id"),
        ]

    def __str__(self):
        return f"{self.folder_id}/{self.uid}: {self.subject[:60]}"


class VanishedMessage(models.Model):
    """What the index knew of a message that left a folder (expunged, moved by another
    client, or its folder's UIDVALIDITY changed), kept for one more sync cycle.

    Deleting from the index is two-phase (mail-sync.md): lists, counts and search stop
    showing the message at once (its IndexedMessage row is gone), while this tombstone
    keeps the data only the index has, the body text it fetched. When a sync then finds a
    message with the same (Message-ID, internal date, size) in any folder of the account,
    it takes the text from here instead of fetching the body again, and the tombstone is
    consumed. Tombstones older than the start of the last complete sync are purged.
    """

    account = models.ForeignKey(MailAccount, on_delete=models.CASCADE, related_name="+")
    folder_name = models.CharField(_("folder"), max_length=1000)
    generation = models.PositiveIntegerField(_("generation"), default=0)
    uid = models.PositiveBigIntegerField(_("UID"))
    message_id = models.CharField(_("Message-ID"), max_length=MESSAGE_ID_LENGTH, blank=True)
    internal_date = models.DateTimeField(_("received"), null=True, blank=True)
    size = models.PositiveBigIntegerField(_("size"), default=0)
    has_attachments = models.BooleanField(_("has attachments"), default=False)
    preview = models.CharField(_("preview"), max_length=PREVIEW_LENGTH, blank=True)
    search_text = models.TextField(_("search text"), blank=True)
    vanished_at = models.DateTimeField(_("vanished"))

    class Meta:
        verbose_name = _("vanished message")
        verbose_name_plural = _("vanished messages")
        indexes = [
            models.Index(fields=["account", "message_id"], name="vanished_message_key"),
            models.Index(fields=["account", "vanished_at"], name="vanished_message_age"),
        ]

    def __str__(self):
        return f"{self.folder_name}/{self.generation}/{self.uid}"


class RenderedBody(models.Model):
    """A message body as the sanitizer made it, so that opening a message costs a lookup
    instead of an IMAP fetch and 70-100 ms of bleach (issue 4). The worker fills it for
    recent mail after a sync (services.prerender); the body view fills it on a miss.

    Keyed by the indexed message: an expunge or a UIDVALIDITY rebuild deletes the message
    row and with it every rendering. Rows of another SANITIZER_VERSION are never served
    and are deleted by the next pre-render of the account.
    """

    account = models.ForeignKey(MailAccount, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(
        IndexedMessage, on_delete=models.CASCADE, related_name="rendered_bodies"
    )
    part = models.CharField(_("part"), max_length=100, blank=True)  # "" for the message itself
    # With remote images allowed the HTML points them at our proxy; without, it blocks them.
    remote_images = models.BooleanField(_("remote images shown"), default=False)
    sanitizer_version = models.PositiveIntegerField(_("sanitizer version"))
    html = models.TextField(_("HTML"), blank=True)
    remote_blocked = models.PositiveIntegerField(_("remote resources blocked"), default=0)
    created_at = models.DateTimeField(_("rendered"))
    # Links to the message's own images carry signed tokens that expire (inline_parts):
    # such a rendering is served only until shortly before they do. Null: never expires.
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    # What the reading page needs besides the body (headers, attachments, parser notes:
    # webmail.mime.stored), on the message's own rendering (part ""), so that opening an
    # indexed, rendered message asks no mail server. Null: the page takes the server.
    page = models.JSONField(_("page data"), null=True, blank=True)

    class Meta:
        verbose_name = _("rendered body")
        verbose_name_plural = _("rendered bodies")
        constraints = [
            models.UniqueConstraint(
                fields=["message", "part", "remote_images", "sanitizer_version"],
                name="rendered_body_unique",
            )
        ]
        indexes = [
            # Trimming an account to its cap, oldest first.
            models.Index(fields=["account", "created_at"], name="rendered_body_age"),
        ]

    def __str__(self):
        return f"{self.message_id}/{self.part or '-'}/v{self.sanitizer_version}"


class StoredMessage(models.Model):
    """A message whose raw bytes this server keeps: the blob named `digest` in the blob
    store (webmail.blobs), `size` bytes long. POP3 fills this local store; the message's
    summary is an IndexedMessage row in one of the account's local folders.

    The raw bytes are the mail itself, not a cache: the index row may go (a local delete,
    an index rebuild) without taking the bytes with it (SET_NULL), and cleanup deletes a
    server copy only while the blob verifies against `digest` and `size`.
    """

    account = models.ForeignKey(MailAccount, on_delete=models.CASCADE, related_name="+")
    indexed = models.OneToOneField(
        IndexedMessage,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="stored",
        verbose_name=_("indexed message"),
    )
    digest = models.CharField(_("SHA-256"), max_length=64)
    size = models.PositiveBigIntegerField(_("size"))
    # Database time of the commit that made the message durable here: the age clock of
    # every keep-for-N-days rule starts at it (mail-sync.md rule 2).
    stored_at = models.DateTimeField(_("stored"))
    # Set when the user deletes the message for good here (the keep-until-deleted rule).
    user_deleted_at = models.DateTimeField(_("deleted here"), null=True, blank=True)

    class Meta:
        verbose_name = _("stored message")
        verbose_name_plural = _("stored messages")
        constraints = [
            # The same bytes twice (a crash and a rerun, a UIDL that came back) are one
            # message: the second ledger row points at the first copy.
            models.UniqueConstraint(fields=["account", "digest"], name="stored_message_unique")
        ]
        indexes = [models.Index(fields=["account", "stored_at"], name="stored_message_age")]

    def __str__(self):
        return f"{self.account_id}/{self.digest[:12]}"


class Pop3Uidl(models.Model):
    """The POP3 ledger: one row per message seen and stored from a POP3 server, keyed by
    its UIDL (or, on a server without UIDL, "sha256:" and the digest of its headers) and
    its LIST size. A UIDL the server reuses for another message comes with another size
    and so gets a row of its own (mail-sync.md, POP3 details).

    A row is written in the same transaction as the StoredMessage it points at, after the
    blob is durable (rule 3); cleanup moves it through delete_requested to deleted, or to
    unknown when QUIT's answer was lost (rule 5).
    """

    class State(models.TextChoices):
        STORED = "stored", _("stored here, still on the server")
        DELETE_REQUESTED = "delete_requested", _("deletion requested")
        DELETED = "deleted", _("deleted from the server")
        UNKNOWN = "unknown", _("deletion unconfirmed")

    account = models.ForeignKey(MailAccount, on_delete=models.CASCADE, related_name="+")
    uidl = models.CharField(_("UIDL"), max_length=100)
    size = models.PositiveBigIntegerField(_("size on the server"))
    stored = models.ForeignKey(
        StoredMessage, on_delete=models.PROTECT, related_name="uidls", verbose_name=_("stored")
    )
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.STORED)
    first_seen_at = models.DateTimeField(_("first seen"))
    deleted_at = models.DateTimeField(_("deleted from the server"), null=True, blank=True)

    class Meta:
        verbose_name = _("POP3 UIDL")
        verbose_name_plural = _("POP3 UIDLs")
        constraints = [
            models.UniqueConstraint(fields=["account", "uidl", "size"], name="pop3_uidl_unique")
        ]
        indexes = [models.Index(fields=["account", "state"], name="pop3_uidl_state")]

    def __str__(self):
        return f"{self.account_id}/{self.uidl}"


class Pop3Mailbox(models.Model):
    """What the last POP3 fetch learnt of the account's server mailbox, for the account
    page: whether it gives UIDLs (without them leaving mail on the server cannot be done
    safely: download-and-delete only, mail-sync.md) and what it holds (STAT)."""

    account = models.OneToOneField(
        MailAccount, on_delete=models.CASCADE, related_name="pop3_mailbox", primary_key=True
    )
    uidl_supported = models.BooleanField(_("server gives UIDLs"), default=True)
    messages = models.PositiveIntegerField(_("messages on the server"), default=0)
    octets = models.PositiveBigIntegerField(_("bytes on the server"), default=0)
    fetched_at = models.DateTimeField(_("last fetched"), null=True, blank=True)

    class Meta:
        verbose_name = _("POP3 mailbox")
        verbose_name_plural = _("POP3 mailboxes")

    def __str__(self):
        return str(self.account_id)


class Pop3Keep(models.TextChoices):
    """What happens to the copy a POP3 server keeps of a message after Postfach stored it
    here (issue 5, "Keeping copies on the server")."""

    DELETE_AFTER_DOWNLOAD = "delete_after_download", _("Delete from the server after download")
    KEEP_DAYS = "keep_days", _("Keep on the server for a number of days")
    KEEP_UNTIL_DELETED = "keep_until_deleted", _("Keep on the server until I delete it here")
    KEEP_FOREVER = "keep_forever", _("Keep on the server forever")


DEFAULT_KEEP_DAYS = 14


class SiteSettings(models.Model):
    """Instance-wide defaults an admin sets in the Django admin; one row (pk 1), made on
    first read by `site_settings()`."""

    pop3_keep = models.CharField(
        _("POP3: server copies, default for new accounts"),
        max_length=32,
        choices=Pop3Keep.choices,
        default=Pop3Keep.KEEP_DAYS,
    )
    pop3_keep_days = models.PositiveIntegerField(
        _("POP3: days to keep, default for new accounts"), default=DEFAULT_KEEP_DAYS
    )
    pop3_delete_larger_than_mb = models.PositiveIntegerField(
        _("POP3: delete server copies larger than (MB), default for new accounts"),
        null=True,
        blank=True,
    )
    # Empty: the environment's SYNC_INTERVAL_SECONDS decides.
    sync_interval_minutes = models.PositiveIntegerField(
        _("sync every (minutes)"), null=True, blank=True
    )
    # Empty: MAIL_MAX_ATTACHMENT_BYTES decides.
    max_attachment_mb = models.PositiveIntegerField(
        _("largest attachments together (MB)"), null=True, blank=True
    )
    users_may_add_accounts = models.BooleanField(
        _("users may add mail accounts themselves"), default=True
    )
    # Host names or addresses (a * in front for sub-domains, CIDR for networks), one per
    # line. Allowed ones may resolve to private or loopback addresses, which the SSRF
    # guard refuses otherwise; forbidden ones are refused whatever they resolve to.
    mail_hosts_allowed = models.TextField(_("mail servers allowed on private networks"), blank=True)
    mail_hosts_forbidden = models.TextField(_("mail servers never allowed"), blank=True)

    class Meta:
        verbose_name = _("site settings")
        verbose_name_plural = _("site settings")

    def __str__(self):
        return str(_("site settings"))


class Pop3Policy(models.Model):
    """One POP3 account's rule for its server copies, and what the cleanup needs to keep
    between runs (its clock guard, its last warning)."""

    account = models.OneToOneField(
        MailAccount, on_delete=models.CASCADE, related_name="pop3_policy", primary_key=True
    )
    keep = models.CharField(
        _("server copies"), max_length=32, choices=Pop3Keep.choices, default=Pop3Keep.KEEP_DAYS
    )
    keep_days = models.PositiveIntegerField(_("days to keep"), default=DEFAULT_KEEP_DAYS)
    delete_larger_than_mb = models.PositiveIntegerField(
        _("also delete server copies larger than (MB)"), null=True, blank=True
    )
    # The provider's storage limit as the user or an admin typed it: POP3 cannot ask.
    quota_mb = models.PositiveIntegerField(_("server storage limit (MB)"), null=True, blank=True)
    warn_by_mail = models.BooleanField(_("also warn me by mail"), default=False)
    warned_level = models.PositiveSmallIntegerField(default=0)  # 0, 80 or 95: last mail sent
    # The app clock's reading at the last cleanup run: a later run that finds the clock
    # before it, or far after it, deletes nothing (mail-sync.md, clock guards).
    last_cleanup_at = models.DateTimeField(_("last cleanup"), null=True, blank=True)
    cleanup_warning = models.TextField(_("cleanup warning"), blank=True)

    class Meta:
        verbose_name = _("POP3 policy")
        verbose_name_plural = _("POP3 policies")

    def __str__(self):
        return f"{self.account_id}: {self.keep}"


class ServerDeletion(models.Model):
    """The audit log of server-side deletions: one row per DELE, written (and committed)
    before the DELE is sent and updated with what QUIT made of it. It outlives the
    account (SET_NULL plus the address as text) so admins can still read it."""

    class Rule(models.TextChoices):
        AFTER_DOWNLOAD = "after_download", _("deleted after download")
        KEEP_DAYS = "keep_days", _("older than the days to keep")
        DELETED_HERE = "deleted_here", _("deleted here")
        LARGER_THAN = "larger_than", _("larger than the size limit")

    class Outcome(models.TextChoices):
        REQUESTED = "requested", _("being deleted")
        DELETED = "deleted", _("deleted from the server")
        NOT_DELETED = "not_deleted", _("not deleted (the session ended early)")
        UNKNOWN = "unknown", _("unconfirmed, checked at the next cleanup")

    account = models.ForeignKey(MailAccount, on_delete=models.SET_NULL, null=True, related_name="+")
    account_email = models.CharField(_("account"), max_length=254)
    uidl = models.CharField(_("UIDL"), max_length=100)
    message_id = models.CharField(_("Message-ID"), max_length=MESSAGE_ID_LENGTH, blank=True)
    subject = models.TextField(_("subject"), blank=True)
    size = models.PositiveBigIntegerField(_("size"))
    rule = models.CharField(_("rule"), max_length=32, choices=Rule.choices)
    confirmed_by_user = models.BooleanField(_("confirmed by the user"), default=False)
    outcome = models.CharField(
        _("outcome"), max_length=16, choices=Outcome.choices, default=Outcome.REQUESTED
    )
    requested_at = models.DateTimeField(_("when"))
    ledger = models.ForeignKey(
        Pop3Uidl, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("server deletion")
        verbose_name_plural = _("server deletions")
        ordering = ["-requested_at", "-pk"]
        indexes = [models.Index(fields=["account", "requested_at"], name="server_deletion_when")]

    def __str__(self):
        return f"{self.account_email} {self.uidl} {self.outcome}"


class RetentionRule(models.Model):
    """An IMAP account's rule for old or large mail on its server (issue 7): in `folder`
    (empty: every folder), messages older than `older_than_days` and/or larger than
    `larger_than_mb` are deleted or moved to `target_folder`. Off until the user saves it
    enabled; the first run waits for a preview (`previewed_at`)."""

    class Action(models.TextChoices):
        DELETE = "delete", _("delete")
        MOVE = "move", _("move to a folder")

    account = models.ForeignKey(
        MailAccount, on_delete=models.CASCADE, related_name="retention_rules"
    )
    folder = models.CharField(_("folder"), max_length=1000, blank=True)  # "": anywhere
    older_than_days = models.PositiveIntegerField(_("older than (days)"), null=True, blank=True)
    larger_than_mb = models.PositiveIntegerField(_("larger than (MB)"), null=True, blank=True)
    action = models.CharField(_("action"), max_length=16, choices=Action.choices)
    target_folder = models.CharField(_("move to"), max_length=1000, blank=True)
    enabled = models.BooleanField(_("on"), default=False)
    previewed_at = models.DateTimeField(_("previewed"), null=True, blank=True)
    last_run_at = models.DateTimeField(_("last run"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("made"), auto_now_add=True)

    class Meta:
        verbose_name = _("retention rule")
        verbose_name_plural = _("retention rules")
        ordering = ["account", "pk"]

    def __str__(self):
        return f"{self.account_id}: {self.folder or '*'} {self.action}"


class RetentionSettings(models.Model):
    """An IMAP account's storage threshold: above it the account page offers "free space
    now" and says what the rules would free."""

    account = models.OneToOneField(
        MailAccount, on_delete=models.CASCADE, related_name="retention_settings", primary_key=True
    )
    quota_threshold_percent = models.PositiveSmallIntegerField(
        _("warn above (percent of the quota)"), default=90
    )

    class Meta:
        verbose_name = _("retention settings")
        verbose_name_plural = _("retention settings")

    def __str__(self):
        return str(self.account_id)


class RetentionLogEntry(models.Model):
    """The audit log of what retention rules did on an IMAP server: one row per message
    deleted or moved, written before the command and updated with its outcome. Outlives
    the account and the rule, as ServerDeletion does."""

    class Outcome(models.TextChoices):
        REQUESTED = "requested", _("requested")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    account = models.ForeignKey(MailAccount, on_delete=models.SET_NULL, null=True, related_name="+")
    account_email = models.CharField(_("account"), max_length=254)
    rule = models.ForeignKey(
        RetentionRule, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    rule_text = models.CharField(_("rule"), max_length=500)
    folder = models.CharField(_("folder"), max_length=1000)
    uidvalidity = models.PositiveBigIntegerField(_("UIDVALIDITY"))
    uid = models.PositiveBigIntegerField(_("UID"))
    message_id = models.CharField(_("Message-ID"), max_length=MESSAGE_ID_LENGTH, blank=True)
    subject = models.TextField(_("subject"), blank=True)
    size = models.PositiveBigIntegerField(_("size"), default=0)
    action = models.CharField(_("action"), max_length=16, choices=RetentionRule.Action.choices)
    target_folder = models.CharField(_("moved to"), max_length=1000, blank=True)
    outcome = models.CharField(
        _("outcome"), max_length=16, choices=Outcome.choices, default=Outcome.REQUESTED
    )
    requested_at = models.DateTimeField(_("when"))

    class Meta:
        verbose_name = _("retention log entry")
        verbose_name_plural = _("retention log")
        ordering = ["-requested_at", "-pk"]
        indexes = [models.Index(fields=["account", "requested_at"], name="retention_log_when")]

    def __str__(self):
        return f"{self.account_email} {self.folder}/{self.uid} {self.action}"


class Pop3Migration(models.Model):
    """Moving a POP3 account to IMAP (issue 7): the IMAP server the user gave, checked,
    and where the copy stands. The task copies every StoredMessage of the account with
    APPEND, one Pop3MigrationItem per message, so a crash or a pause resumes where it was
    and nothing is uploaded twice."""

    class State(models.TextChoices):
        RUNNING = "running", _("copying")
        PAUSED = "paused", _("paused")
        DONE = "done", _("done")
        FAILED = "failed", _("stopped by an error")

    account = models.OneToOneField(
        MailAccount, on_delete=models.CASCADE, related_name="pop3_migration", primary_key=True
    )
    state = models.CharField(_("state"), max_length=16, choices=State.choices)
    imap_host = models.CharField(_("IMAP server"), max_length=255)
    imap_port = models.PositiveIntegerField(_("port"))
    imap_security = models.CharField(_("security"), max_length=16)
    imap_login = models.CharField(_("login"), max_length=255)
    imap_password_encrypted = models.TextField(editable=False)
    total = models.PositiveIntegerField(_("messages"), default=0)
    copied = models.PositiveIntegerField(_("copied"), default=0)
    already_there = models.PositiveIntegerField(_("already there"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    error = models.TextField(_("error"), blank=True)
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("move to IMAP")
        verbose_name_plural = _("moves to IMAP")

    def __str__(self):
        return f"{self.account_id}: {self.state}"


class Pop3MigrationItem(models.Model):
    """One locally stored message of a move to IMAP, and what became of it."""

    class State(models.TextChoices):
        PENDING = "pending", _("waiting")
        COPIED = "copied", _("copied")
        ALREADY_THERE = "already_there", _("already on the server")
        FAILED = "failed", _("not copied")

    migration = models.ForeignKey(Pop3Migration, on_delete=models.CASCADE, related_name="items")
    stored = models.ForeignKey(StoredMessage, on_delete=models.CASCADE, related_name="+")
    local_folder = models.CharField(_("local folder"), max_length=1000)
    target_folder = models.CharField(_("IMAP folder"), max_length=1000)
    state = models.CharField(
        _("state"), max_length=16, choices=State.choices, default=State.PENDING
    )
    reason = models.TextField(_("reason"), blank=True)
    target_uidvalidity = models.PositiveBigIntegerField(null=True, blank=True)
    target_uid = models.PositiveBigIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("message to move")
        verbose_name_plural = _("messages to move")
        constraints = [
            models.UniqueConstraint(
                fields=["migration", "stored"], name="pop3_migration_item_unique"
            )
        ]
        indexes = [models.Index(fields=["migration", "state"], name="pop3_migration_item_state")]

    def __str__(self):
        return f"{self.migration_id}/{self.stored_id}: {self.state}"
