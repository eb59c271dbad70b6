"""The German catalogue is complete, and a German reader sees it: by their own choice once
signed in, by their browser's Accept-Language before."""

import gettext
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

pytestmark = pytest.mark.django_db

CATALOGUE = Path(settings.LOCALE_PATHS[0]) / "de" / "LC_MESSAGES"
GERMAN_SPECIAL_FOLDERS = ["Posteingang", "Entwürfe", "Gesendet", "Archiv", "Spam", "Papierkorb"]
ENGLISH_SPECIAL_FOLDERS = ["Inbox", "Drafts", "Sent", "Archive", "Junk", "Trash"]


@pytest.fixture(autouse=True)
def _keep_the_active_language():
    """Requests here activate German in this thread; later tests must not inherit it."""
    with translation.override(translation.get_language()):
        yield


def _msgfmt(*args: str) -> subprocess.CompletedProcess:
    if shutil.which("msgfmt") is None:
        pytest.fail("msgfmt is missing: install Debian's gettext (make check-tools does)")
    return subprocess.run(["msgfmt", *args], capture_output=True, text=True, check=False)


def _catalogues() -> list[Path]:
    found = sorted(CATALOGUE.glob("*.po"))
    assert CATALOGUE / "django.po" in found
    return found


def _sidebar_folders(html: str) -> list[str]:
    return re.findall(r'<span class="folder-name[^"]*">(.*?)</span>', html, re.S)


@pytest.mark.parametrize("po", _catalogues(), ids=lambda path: path.name)
def test_it_has_no_untranslated_or_fuzzy_german_string(po):
    # --statistics prints "N translated messages[, M fuzzy translations][, K untranslated
    # messages]."; -c and --check-format also refuse a lost or misspelt placeholder.
    result = _msgfmt("--check-format", "-c", "--statistics", "-o", "/dev/null", str(po))
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"\d+ translated messages?\.\n", result.stderr), result.stderr


@pytest.mark.parametrize("po", _catalogues(), ids=lambda path: path.name)
def test_it_ships_a_compiled_catalogue_that_matches_its_source(po, tmp_path):
    fresh = tmp_path / "fresh.mo"
    assert _msgfmt("-o", str(fresh), str(po)).returncode == 0
    with fresh.open("rb") as wanted, po.with_suffix(".mo").open("rb") as shipped:
        assert gettext.GNUTranslations(shipped)._catalog == gettext.GNUTranslations(wanted)._catalog


def test_it_shows_a_german_user_german_folder_names(alice, alice_client, alice_account):
    alice.language = "de"
    alice.save()

    response = alice_client.get(f"/mail/{alice_account.pk}/")

    assert response.status_code == 200
    html = response.content.decode()
    # The test Dovecot gives every mailbox Drafts, Sent, Archive, Junk and Trash, each
    # marked special-use, so all six are named by their role, in this order, first.
    assert _sidebar_folders(html)[:6] == GERMAN_SPECIAL_FOLDERS
    assert '<html lang="de">' in html
    assert "<h1>Posteingang</h1>" in html
    assert 'aria-label="Ordner"' in html
    assert re.search(r'<p class="list-count">\d+ Nachrichten</p>', html)
    assert "Abmelden" in html


def test_it_shows_an_english_user_english_folder_names_whatever_the_browser_says(
    alice, alice_client, alice_account
):
    alice.language = "en"
    alice.save()

    response = alice_client.get(f"/mail/{alice_account.pk}/", headers={"accept-language": "de"})

    html = response.content.decode()
    assert _sidebar_folders(html)[:6] == ENGLISH_SPECIAL_FOLDERS
    assert '<html lang="en">' in html
    assert "Sign out" in html


def test_it_follows_the_browser_when_the_user_chose_no_language(alice, alice_client, alice_account):
    assert alice.language == ""

    html = alice_client.get(
        f"/mail/{alice_account.pk}/", headers={"accept-language": "de-DE,de;q=0.9,en;q=0.5"}
    ).content.decode()

    assert _sidebar_folders(html)[:6] == GERMAN_SPECIAL_FOLDERS


def test_it_signs_a_german_browser_in_in_german(client):
    response = client.get("/accounts/login/", headers={"accept-language": "de"})

    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="de">' in html
    assert "<title>Anmelden – Postfach</title>" in html
    assert "<h1>Bei Postfach anmelden</h1>" in html
    assert ">Anmelden</button>" in html
    assert "Benutzername" in html  # Django's own catalogue labels its sign-in form
    assert "Sign in" not in html


def test_it_signs_an_english_browser_in_in_english(client):
    html = client.get("/accounts/login/", headers={"accept-language": "en"}).content.decode()

    assert "<h1>Sign in to Postfach</h1>" in html
