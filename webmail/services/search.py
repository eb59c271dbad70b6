"""Searching mail: the local index's full-text search, and the server's IMAP SEARCH for
what the index does not hold yet.

Words match sender (name and address), recipients (To, Cc), subject and the start of the
body text that the sync keeps (services.sync.TEXT_BYTES), folded by webmail.search_fold so
that `Grüße`, `grüße`, `GRÜSSE` and `Gruesse` are one word. Every word must match; the
last one also as a prefix while it is being typed. Results come newest first (by the Date
header), 50 to a page; ranking would have to score every match before the first page,
and readers of mail look for "that message from last week", not for the best match.

A folder the index does not hold completely (its first sync still running, or messages
whose body text the sync found none of) is also searched on the server, in that folder
only; the page says so. Those results are ordered by UID (arrival), as the server's list.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import BooleanField, F, Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.expressions import RawSQL
from django.utils import timezone

from accounts.models import MailAccount, User
from webmail.models import IndexedFolder, IndexedMessage
from webmail.paging import PageLinks
from webmail.protocols.errors import MailServerError
from webmail.protocols.store import MessageSummary
from webmail.search_fold import Term, query_terms, server_words
from webmail.search_schema import FTS_TABLE, PG_COLUMN, TEXTLESS

from .index import indexed_summary
from .stores import store_open

log = logging.getLogger(__name__)

COUNT_LIMIT = 1000  # matches counted; counting 80,000 matches of a common word takes 0.4 s
# A word in more than MANY_MATCHES messages of the whole index is first looked for among
# the newest messages only: those of the date window in which the scope's fullest folder
# holds WINDOW_ROWS messages. Sorting all 80,000 matches of a common word by date took
# 0.2 s; the window, when it holds more than COUNT_LIMIT matches, has the same first pages.
MANY_MATCHES = 5000
WINDOW_ROWS = 4 * (COUNT_LIMIT + 1)
MAX_WINDOW_ROWS = 6 * WINDOW_ROWS  # a bigger one is tried no more: the whole search follows


class Scope:
    FOLDER = "folder"
    ALL = "all"


@dataclass(frozen=True)
class SearchQuery:
    text: str = ""
    scope: str = Scope.FOLDER  # Scope.FOLDER: `folder` of `account`; Scope.ALL: every account
    account: MailAccount | None = None
    folder: str = "INBOX"
    unread: bool = False
    flagged: bool = False
    attachments: bool = False
    date_from: date | None = None  # inclusive, in the reader's time zone
    date_to: date | None = None  # inclusive
    page: int = 1

    @property
    def terms(self) -> list[Term]:
        return query_terms(self.text)

    @property
    def has_filters(self) -> bool:
        return bool(
            self.unread or self.flagged or self.attachments or self.date_from or self.date_to
        )


@dataclass(frozen=True)
class SearchHit:
    summary: MessageSummary
    account_id: int
    account_email: str
    folder: str
    uidvalidity: int


@dataclass(frozen=True)
class SearchPage(PageLinks):
    query: SearchQuery
    hits: list[SearchHit] = field(default_factory=list)
    total: int = 0
    page_number: int = 1
    page_count: int = 1
    empty_query: bool = False  # nothing to search for: the page shows a hint instead
    from_server: bool = False  # some results came from the server's IMAP SEARCH
    server_failed: bool = False  # the server should have been asked but could not be
    folders_incomplete: int = 0  # scope ALL: folders whose first sync is not done
    more: bool = False  # more than `total` (COUNT_LIMIT) matches: not all pages are offered


def mail_search(user: User, query: SearchQuery) -> SearchPage:
    """One page of the user's messages matching `query`. Reads only: flags are untouched
    and the server is only EXAMINEd. Another user's account in `query` finds nothing."""
    if not query.terms and not query.has_filters:
        return SearchPage(query=query, empty_query=True)
    if query.scope == Scope.ALL:
        rows = IndexedMessage.objects.filter(folder__account__user=user)
        folders = IndexedFolder.objects.filter(account__user=user, selectable=True)
        incomplete = folders.filter(fully_indexed=False).count()
        return _index_page(query, rows, folders, folders_incomplete=incomplete)
    account = query.account
    if account is None or account.user_id != user.pk:
        return SearchPage(query=query)
    folders = IndexedFolder.objects.filter(account=account, name=query.folder)
    folder = folders.first()
    rows = IndexedMessage.objects.filter(folder__account=account, folder__name=query.folder)
    if account.protocol == MailAccount.Protocol.IMAP and _needs_server(query, folder):
        return _mixed_page(query, account, folders, rows)
    return _index_page(query, rows, folders)


# -- the local index -----------------------------------------------------------------------


def _filtered(query: SearchQuery, rows: QuerySet) -> QuerySet:
    """`rows` in selectable folders that pass the query's filters (not yet its words)."""
    rows = _dated(query, rows.filter(folder__selectable=True))
    if query.unread:
        rows = rows.filter(seen=False)
    if query.flagged:
        rows = rows.filter(flagged=True)
    if query.attachments:
        rows = rows.filter(has_attachments=True)
    return rows


def _dated(query: SearchQuery, rows: QuerySet) -> QuerySet:
    if query.date_from:
        rows = rows.filter(date__gte=_day_start(query.date_from))
    if query.date_to:
        rows = rows.filter(date__lt=_day_start(query.date_to + timedelta(days=1)))
    return rows


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def _text_match(terms: list[Term], *, window: bool = False) -> Q:
    """The database's full-text match of every term (see webmail.search_schema). The
    words are folded letters and digits only, and go as parameters all the same. In a
    date `window` SQLite is to walk the window and look its rows up in the matches,
    not look up every match (the unary + keeps it from using the primary key)."""
    if not terms:
        return Q()
    if connection.vendor == "sqlite":
        matches = f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s"
        if window:
            sql = f'+"webmail_indexedmessage"."id" IN ({matches})'
            return Q(RawSQL(sql, [_fts5_query(terms)], output_field=BooleanField()))
        return Q(id__in=RawSQL(matches, [_fts5_query(terms)]))
    if connection.vendor == "postgresql":
        match, params = _tsquery_match(terms)
        return Q(RawSQL(match, params, output_field=BooleanField()))
    match = Q()  # another database: no full-text index, a scan of the documents
    for term in terms:
        match &= Q(search_document__contains=" ".join(term.words))
    return match


def _tsquery_match(terms: list[Term]) -> tuple[str, list[str]]:
    """PostgreSQL's match of every term against the stored vector (see search_schema)."""
    parts, params = [], []
    for term in terms:
        text = " <-> ".join(term.words) + (":*" if term.prefix else "")
        parts.append("(to_tsquery('german'::regconfig, %s) || to_tsquery('simple'::regconfig, %s))")
        params += [text, text]
    return f'"webmail_indexedmessage"."{PG_COLUMN}" @@ ({" && ".join(parts)})', params


def _fts5_query(terms: list[Term]) -> str:
    # Each term a quoted phrase: inside quotes NEAR, AND, OR and * are words, not syntax.
    return " ".join(
        '"' + " ".join(term.words).replace('"', '""') + '"' + ("*" if term.prefix else "")
        for term in terms
    )


_ROW_COLUMNS = [
    "uid", "subject", "from_name", "from_addr", "to", "date", "internal_date", "size",
    "flags", "has_attachments", "folder__name", "folder__uidvalidity", "folder__account_id",
    "folder__account__email",
]  # fmt: skip


def _page_bounds(total: int, page: int) -> tuple[int, int]:
    page_count = max(1, math.ceil(total / settings.MAIL_PAGE_SIZE))
    return min(max(1, page), page_count), page_count


def _index_page(
    query: SearchQuery, rows: QuerySet, folders: QuerySet, *, folders_incomplete: int = 0
) -> SearchPage:
    """The page of `rows` (of `folders`) matching `query`, newest first."""
    ids = _newest_ids(query, rows, folders)
    more = len(ids) > COUNT_LIMIT
    ids = ids[:COUNT_LIMIT]
    total = len(ids)
    page, page_count = _page_bounds(total, query.page)
    size = settings.MAIL_PAGE_SIZE
    wanted = ids[(page - 1) * size : page * size]
    found = IndexedMessage.objects.filter(id__in=wanted).select_related("folder__account")
    by_id = {row.id: row for row in found.only(*_ROW_COLUMNS)}
    return SearchPage(
        query=query,
        hits=[_hit(by_id[id_]) for id_ in wanted if id_ in by_id],
        total=total,
        page_number=page,
        page_count=page_count,
        folders_incomplete=folders_incomplete,
        more=more,
    )


def _newest_ids(query: SearchQuery, rows: QuerySet, folders: QuerySet) -> list[int]:
    """The ids of the newest COUNT_LIMIT + 1 matches, newest first: enough for every page
    offered and to know whether there are more. For a common word, or filters alone,
    the newest messages are tried first (see MANY_MATCHES)."""
    limit = COUNT_LIMIT + 1
    newest = (F("date").desc(nulls_last=True), "-id")
    filtered = _filtered(query, rows)
    if not query.terms or _many_matches(query.terms):
        walk = filtered.filter(_text_match(query.terms, window=True))
        rows_in_window = WINDOW_ROWS
        while rows_in_window <= MAX_WINDOW_ROWS:
            start = _window_start(query, folders, rows_in_window)
            if start is None:  # no folder is that full (in the dates asked for): walk all
                return list(walk.order_by(*newest).values_list("id", flat=True)[:limit])
            window = walk.filter(date__gte=start).order_by(*newest)
            ids = list(window.values_list("id", flat=True)[:limit])
            if len(ids) == limit:  # all of the first COUNT_LIMIT + 1 are in the window
                return ids
            # Once more in a window big enough at this density, twice over, unless that
            # would be so big that the whole search is cheaper.
            rows_in_window = max(rows_in_window * 2 * limit // max(len(ids), 1), 2 * rows_in_window)
    matching = filtered.filter(_text_match(query.terms)).order_by(*newest)
    return list(matching.values_list("id", flat=True)[:limit])


def _many_matches(terms: list[Term]) -> bool:
    """Whether the words are in more than MANY_MATCHES messages of the whole index; cheap
    (FTS5 and the GIN index stop counting there)."""
    if connection.vendor == "sqlite":
        params = [_fts5_query(terms)]
        matches = f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s"
    elif connection.vendor == "postgresql":
        match, params = _tsquery_match(terms)
        matches = f"SELECT 1 FROM webmail_indexedmessage WHERE {match}"
    else:
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM ({matches} LIMIT %s) AS matches", [*params, MANY_MATCHES]
        )
        return cursor.fetchone()[0] >= MANY_MATCHES


def _window_start(query: SearchQuery, folders: QuerySet, rows: int) -> datetime | None:
    """The date after which the fullest of `folders` holds `rows` messages of the
    query's dates, or None if none holds that many. Each folder is read newest first
    along its date index alone: the other filters would have to read the messages."""
    nth = (
        _dated(query, IndexedMessage.objects.filter(folder=OuterRef("pk"), date__isnull=False))
        .order_by("-date")
        .values("date")[rows - 1 : rows]
    )
    return folders.annotate(nth=Subquery(nth)).aggregate(start=Max("nth"))["start"]


def _hit(row: IndexedMessage) -> SearchHit:
    return SearchHit(
        summary=indexed_summary(row),
        account_id=row.folder.account_id,
        account_email=row.folder.account.email,
        folder=row.folder.name,
        uidvalidity=row.folder.uidvalidity,
    )


# -- with the server's help ----------------------------------------------------------------


def _needs_server(query: SearchQuery, folder: IndexedFolder | None) -> bool:
    """The index cannot answer alone: the folder is not (fully) indexed, or words are
    sought and some of its messages have no body text in the index."""
    if folder is None or not folder.fully_indexed:
        return True
    textless = RawSQL(f'"webmail_indexedmessage".{TEXTLESS}', [], output_field=BooleanField())
    return bool(query.terms) and folder.messages_indexed.filter(textless).exists()


def _mixed_page(
    query: SearchQuery, account: MailAccount, folders: QuerySet, rows: QuerySet
) -> SearchPage:
    """UIDs from the index and from the server's IMAP SEARCH, newest (highest UID) first;
    the server's answer counts only for messages the index holds no body text of. The
    page's summaries come from the index where it has them, else from the server."""
    size = settings.MAIL_PAGE_SIZE
    folder = folders.first()
    try:
        with store_open(account) as store:
            uidvalidity, server_uids = store.message_search(
                query.folder,
                words=server_words(query.text),
                unseen=query.unread,
                flagged=query.flagged,
                since=query.date_from,
                before=query.date_to + timedelta(days=1) if query.date_to else None,
            )
            if folder is None or folder.uidvalidity != uidvalidity:
                rows = rows.none()  # the index is of an older incarnation of the folder
            local = _filtered(query, rows).filter(_text_match(query.terms))
            local = set(local.values_list("uid", flat=True))
            judged = set(rows.exclude(search_text="").values_list("uid", flat=True))
            from_server = set(server_uids) - judged
            uids = sorted(local | from_server, reverse=True)
            page, page_count = _page_bounds(len(uids), query.page)
            wanted = uids[(page - 1) * size : page * size]
            indexed = {
                row.uid: indexed_summary(row)
                for row in rows.filter(uid__in=wanted).only(*_ROW_COLUMNS[:10])
            }
            missing = [uid for uid in wanted if uid not in indexed]
            fetched = {
                entry.summary.uid: entry.summary
                for entry in store.messages_index(
                    query.folder, missing, uidvalidity=uidvalidity, text_bytes=0
                )
            } if missing else {}  # fmt: skip
    except MailServerError as exc:
        log.info("account %s: server search failed (%s)", account.pk, type(exc).__name__)
        return _server_failed(query, rows, folders)
    summaries = [indexed.get(uid) or fetched.get(uid) for uid in wanted]
    hits = [
        SearchHit(
            summary=summary,
            account_id=account.pk,
            account_email=account.email,
            folder=query.folder,
            uidvalidity=uidvalidity,
        )
        for summary in summaries
        if summary is not None and (summary.has_attachments or not query.attachments)
    ]
    return SearchPage(
        query=query,
        hits=hits,
        total=len(uids),
        page_number=page,
        page_count=page_count,
        from_server=True,
    )


def _server_failed(query: SearchQuery, rows: QuerySet, folders: QuerySet) -> SearchPage:
    """The server could not be asked: what the index alone finds, and a note saying so."""
    page = _index_page(query, rows, folders)
    return SearchPage(
        query=query,
        hits=page.hits,
        total=page.total,
        page_number=page.page_number,
        page_count=page.page_count,
        more=page.more,
        server_failed=True,
    )
