"""mail_search over an index the sync service filled from the real Dovecot (German mail),
on SQLite's FTS5 and, with DATABASE_URL set, PostgreSQL's full-text search."""

import secrets
from datetime import date

import pytest
from django.db import connection

from tests.dovecot import new_mail_user
from tests.personas import account_for
from webmail.models import IndexedFolder, IndexedMessage
from webmail.search_schema import PG_INDEX, PG_VECTOR, search_schema_drop, search_schema_ensure
from webmail.services.search import Scope, SearchQuery, mail_search
from webmail.services.sync import account_sync


def mail(subject: str, body: str, *, sender: str = "Jürgen Weiß <juergen@beispiel.de>",
         to: str = "Alice <alice@example.org>", day: int = 2, extra: str = "") -> bytes:  # fmt: skip
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Date: Mon, {day:02d} Mar 2026 09:00:00 +0100\r\n{extra}"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
        f"{body}\r\n"
    ).encode()


ATTACHED = (
    "From: Carla Meyer <carla@example.net>\r\nTo: alice@example.org\r\nSubject: Rechnung\r\n"
    "Date: Thu, 05 Mar 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\n"
    'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nAnbei die Rechnung für März.\r\n"
    '--b\r\nContent-Type: application/pdf; name="r.pdf"\r\n'
    'Content-Disposition: attachment; filename="r.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
    "JVBERi0xLjQK\r\n--b--\r\n"
).encode()


@pytest.fixture(autouse=True)
def redis_locks(settings):
    """Sync locks in the real Redis under keys of this run only: the file lock's names
    (by account id) would collide with another test run's."""
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    settings.REDIS_KEY_PREFIX = f"postfach-test-{secrets.token_hex(6)}:"


@pytest.fixture
def account(alice, dovecot, mail_user):
    mail_user.append_many(
        "INBOX",
        [
            (mail("Treffen am Montag", "Viele Grüße aus der Hauptstraße, bis bald!"), ("\\Seen",), None),
            (mail("GRÜSSE AUS MÜNCHEN", "Das Oktoberfest war schön.", day=3), (), None),
            (mail("Angebot", "Preisliste anbei.", sender="Anna Schmidt <anna@example.org>", day=4), ("\\Seen", "\\Flagged"), None),
            (ATTACHED, ("\\Seen",), None),
        ],
    )  # fmt: skip
    mail_user.create_folder("Archiv")
    mail_user.append(
        "Archiv", mail("Alte Rechnung", "Die Strasse ist gesperrt.", day=1), ("\\Seen",)
    )
    account = account_for(alice, dovecot, mail_user)
    assert account_sync(account).complete
    return account


def subjects(page) -> list[str]:
    return [hit.summary.subject for hit in page.hits]


def search(user, account, text="", folder="INBOX", **filters):
    return mail_search(user, SearchQuery(text=text, account=account, folder=folder, **filters))


def test_it_finds_a_word_in_a_body(alice, account):
    page = search(alice, account, "Oktoberfest")
    assert subjects(page) == ["GRÜSSE AUS MÜNCHEN"]
    assert not page.from_server and page.total == 1


def test_it_finds_a_word_in_a_subject(alice, account):
    assert subjects(search(alice, account, "angebot")) == ["Angebot"]


def test_it_finds_the_sender_by_name_and_by_address(alice, account):
    assert subjects(search(alice, account, "Schmidt")) == ["Angebot"]
    assert subjects(search(alice, account, "anna@example.org")) == ["Angebot"]
    assert subjects(search(alice, account, "carla@example.net")) == ["Rechnung"]


def test_it_finds_recipients(alice, account):
    assert len(search(alice, account, "alice@example.org").hits) == 4


@pytest.mark.parametrize("word", ["Grüße", "grüße", "GRÜSSE", "Gruesse", "grüsse"])
def test_it_folds_umlauts_and_sharp_s_and_case(alice, account, word):
    assert subjects(search(alice, account, word + " ")) == [
        "GRÜSSE AUS MÜNCHEN",
        "Treffen am Montag",
    ]


def test_strasse_finds_strasse_with_sharp_s_and_back(alice, account):
    assert subjects(search(alice, account, "Hauptstrasse ")) == ["Treffen am Montag"]
    assert subjects(search(alice, account, "Straße ", folder="Archiv")) == ["Alte Rechnung"]


def test_a_word_typed_without_umlaut_dots_finds_it(alice, account):
    assert subjects(search(alice, account, "Munchen ")) == ["GRÜSSE AUS MÜNCHEN"]


def test_the_last_word_is_a_prefix_while_typing(alice, account):
    assert subjects(search(alice, account, "Oktober")) == ["GRÜSSE AUS MÜNCHEN"]
    assert subjects(search(alice, account, "Oktober ")) == []


def test_every_word_must_match(alice, account):
    assert subjects(search(alice, account, "Grüße Oktoberfest")) == ["GRÜSSE AUS MÜNCHEN"]
    assert subjects(search(alice, account, "Grüße Preisliste")) == []


def test_filters(alice, account):
    assert subjects(search(alice, account, unread=True)) == ["GRÜSSE AUS MÜNCHEN"]
    assert subjects(search(alice, account, flagged=True)) == ["Angebot"]
    assert subjects(search(alice, account, attachments=True)) == ["Rechnung"]
    dated = search(alice, account, date_from=date(2026, 3, 3), date_to=date(2026, 3, 4))
    assert subjects(dated) == ["Angebot", "GRÜSSE AUS MÜNCHEN"]
    assert subjects(search(alice, account, "Grüße", unread=True)) == ["GRÜSSE AUS MÜNCHEN"]


def test_results_come_newest_first_with_where_they_are(alice, account):
    page = search(alice, account, "alice")
    assert subjects(page) == ["Rechnung", "Angebot", "GRÜSSE AUS MÜNCHEN", "Treffen am Montag"]
    hit = page.hits[0]
    folder = IndexedFolder.objects.get(account=account, name="INBOX")
    assert (hit.account_id, hit.folder, hit.uidvalidity) == (
        account.pk,
        "INBOX",
        folder.uidvalidity,
    )


def test_scope_all_searches_every_folder_of_every_account(alice, dovecot, account):
    other_user = new_mail_user(dovecot)
    other_user.append("INBOX", mail("Rechnung Strom", "Ihre Rechnung.", day=6))
    other = account_for(alice, dovecot, other_user)
    assert account_sync(other).complete
    page = mail_search(alice, SearchQuery(text="Rechnung", scope=Scope.ALL))
    found = {(hit.account_id, hit.folder, hit.summary.subject) for hit in page.hits}
    assert found == {
        (other.pk, "INBOX", "Rechnung Strom"),
        (account.pk, "INBOX", "Rechnung"),
        (account.pk, "Archiv", "Alte Rechnung"),
    }
    assert page.folders_incomplete == 0


def test_bob_never_sees_alices_results(alice, bob, account):
    assert mail_search(bob, SearchQuery(text="Grüße", scope=Scope.ALL)).hits == []
    assert search(bob, account, "Grüße").hits == []


def test_an_empty_query_asks_for_words_and_finds_nothing(alice, account):
    for text in ["", "   ", '"', "*", "-:"]:
        page = search(alice, account, text)
        assert page.empty_query and page.hits == []


@pytest.mark.parametrize(
    "text",
    ['"Grüße', "Grüße*", "NEAR(Grüße Montag)", "-Grüße", "subject:Grüße", "Grüße OR x",
     "'; DROP TABLE webmail_indexedmessage; --", "a AND NOT b", "^Grüße", "(Grüße)",
     "{5}", "\\", "%_"],
)  # fmt: skip
def test_query_syntax_characters_are_only_words(alice, account, text):
    page = search(alice, account, text)
    assert page.hits is not None  # no database error
    all_folders = mail_search(alice, SearchQuery(text=text, scope=Scope.ALL))
    assert all_folders.total >= 0
    if [term.words for term in SearchQuery(text=text).terms] == [("gruesse",)]:
        assert "GRÜSSE AUS MÜNCHEN" in subjects(page)


def test_a_folder_not_yet_indexed_is_searched_on_the_server(alice, account, mail_user):
    mail_user.append("INBOX", mail("Neu", "Herzliche Grüße vom Bodensee.", day=7))
    IndexedFolder.objects.filter(account=account, name="INBOX").update(fully_indexed=False)
    page = search(alice, account, "Bodensee")
    assert page.from_server
    assert subjects(page) == ["Neu"]
    assert page.hits[0].summary.sender.addr == "juergen@beispiel.de"
    # indexed messages are still found by the index, alongside
    page = search(alice, account, "Oktoberfest")
    assert page.from_server and subjects(page) == ["GRÜSSE AUS MÜNCHEN"]


def test_server_search_takes_umlauts_and_syntax_characters(alice, account, mail_user):
    IndexedFolder.objects.filter(account=account, name="INBOX").update(fully_indexed=False)
    assert "Treffen am Montag" in subjects(search(alice, account, "Grüße"))
    for text in ['{5}"', "(x", "a*", "\\x", "NEAR(", "anna@example.org", "x\r\nA1 LOGOUT"]:
        assert search(alice, account, text).from_server


def test_messages_without_body_text_bring_in_the_server(alice, account):
    IndexedMessage.objects.filter(folder__account=account, subject="Angebot").update(search_text="")
    page = search(alice, account, "Preisliste")
    assert page.from_server and subjects(page) == ["Angebot"]


def test_an_unreachable_server_says_so_and_shows_what_the_index_has(alice, account):
    IndexedFolder.objects.filter(account=account, name="INBOX").update(fully_indexed=False)
    account.incoming_host = "mail.example.invalid"
    account.save()
    page = search(alice, account, "Oktoberfest")
    assert page.server_failed and subjects(page) == ["GRÜSSE AUS MÜNCHEN"]


def test_the_index_follows_deletes_and_updates(alice, account):
    IndexedFolder.objects.filter(account=account, name="Archiv").delete()  # cascade
    assert mail_search(alice, SearchQuery(text="Strasse", scope=Scope.ALL)).hits == []
    row = IndexedMessage.objects.get(folder__account=account, subject="Angebot")
    row.search_document = "ganz anders"
    row.save(update_fields=["search_document"])
    assert subjects(search(alice, account, "anders")) == ["Angebot"]
    assert search(alice, account, "Preisliste").hits == []


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's FTS5 triggers")
def test_lost_triggers_are_put_back_and_the_index_rebuilt(alice, account):
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER webmail_message_fts_insert")
    assert search_schema_ensure(connection)
    assert not search_schema_ensure(connection)
    assert subjects(search(alice, account, "Oktoberfest")) == ["GRÜSSE AUS MÜNCHEN"]


def test_the_index_of_messages_without_body_text_is_put_back(alice, account):
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # the test's transaction has deferred checks
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("DROP INDEX webmail_message_textless")
        search_schema_ensure(connection)
        indexes = connection.introspection.get_constraints(cursor, "webmail_indexedmessage")
    assert "webmail_message_textless" in indexes
    assert subjects(search(alice, account, "Oktoberfest")) == ["GRÜSSE AUS MÜNCHEN"]


def test_a_search_index_made_before_is_brought_up_to_date(alice, account):
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # the test's transaction has deferred checks
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        search_schema_drop(connection)
        if connection.vendor == "postgresql":  # as 0002 made it: over the expression
            vector = PG_VECTOR.format(column="search_document")
            cursor.execute(f"CREATE INDEX {PG_INDEX} ON webmail_indexedmessage USING gin ({vector})")
    assert search_schema_ensure(connection)
    assert not search_schema_ensure(connection)
    assert subjects(search(alice, account, "Oktoberfest")) == ["GRÜSSE AUS MÜNCHEN"]
    assert subjects(search(alice, account, "Munchen ")) == ["GRÜSSE AUS MÜNCHEN"]


def test_counting_stops_at_the_limit(alice, account, monkeypatch):
    monkeypatch.setattr("webmail.services.search.COUNT_LIMIT", 2)
    page = search(alice, account, "alice")
    assert page.more and page.total == 2 and page.page_count == 1
    assert not search(alice, account, "Grüße").more


def test_a_common_word_sought_among_the_newest_first_finds_the_same_pages(
    alice, account, mail_user, monkeypatch, settings
):
    for day in range(6, 12):
        folder = "Archiv" if day % 3 == 0 else "INBOX"
        mail_user.append(folder, mail(f"Rechnung {day}", "Ihre Rechnung für März.", day=day))
    mail_user.append("INBOX", mail("Rechnung 11b", "Noch eine Rechnung.", day=11))
    assert account_sync(account).complete
    settings.MAIL_PAGE_SIZE = 2
    monkeypatch.setattr("webmail.services.search.COUNT_LIMIT", 5)

    def pages(text="Rechnung", **where):
        found = []
        for number in (1, 2, 3):
            page = mail_search(alice, SearchQuery(text=text, page=number, **where))
            found.append((subjects(page), page.total, page.more))
        return found

    scopes = [
        {"scope": Scope.ALL},
        {"account": account, "folder": "INBOX"},
        {"text": "", "scope": Scope.ALL, "unread": True},  # filters alone
    ]
    monkeypatch.setattr("webmail.services.search.MANY_MATCHES", 10**9)  # never a window
    expected = [pages(**where) for where in scopes]
    newest, total, more = expected[0][0]
    assert sorted(newest) == ["Rechnung 11", "Rechnung 11b"] and (total, more) == (5, True)
    assert expected[1][2] == (["Rechnung 7"], 5, True)  # not the sixth, "Rechnung" of day 5
    assert expected[2][2] == (["Rechnung 8"], 5, True)
    monkeypatch.setattr("webmail.services.search.MANY_MATCHES", 1)
    for rows in range(1, 8):  # windows too small (a bigger one, the whole search follows)
        monkeypatch.setattr("webmail.services.search.WINDOW_ROWS", rows)
        assert [pages(**where) for where in scopes] == expected
