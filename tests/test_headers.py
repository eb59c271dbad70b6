"""The security headers every response carries (issue 6, "Hardening"), page by page: the
sign-in page, the mail pages, a message and its body document, settings, the admin and a
page that does not exist."""

import re

import pytest
from django.test import Client

from webmail.middleware import APP_CSP
from webmail.views.message import BODY_CSP

pytestmark = pytest.mark.django_db

HTTPS_HOST = "mail.example.org"


def _directives(csp: str) -> dict[str, str]:
    return {
        part.strip().split(" ", 1)[0]: part.strip().partition(" ")[2]
        for part in csp.split(";")
        if part.strip()
    }


def assert_app_page_headers(response) -> None:
    csp = response["Content-Security-Policy"]
    assert csp == APP_CSP
    directives = _directives(csp)
    assert directives["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval'
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'" and directives["base-uri"] == "'none'"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    # A link opened from any page leaks nothing; our forms still post (tests below).
    assert response["Referrer-Policy"] == "no-referrer"
    assert "Strict-Transport-Security" not in response  # plain HTTP: no HSTS
    # No inline script on any page: the CSP would block it, so none may be written (JSON
    # data blocks are not run, and are allowed).
    if response["Content-Type"].startswith("text/html"):
        scripts = re.findall(r"<script\b[^>]*>", response.content.decode())
        inline = [
            tag for tag in scripts if "src=" not in tag and 'type="application/json"' not in tag
        ]
        assert inline == []


@pytest.fixture
def message_url(alice_account, seeded_mailbox):
    uid = seeded_mailbox.uids["02-html-newsletter.eml"]
    uidvalidity = seeded_mailbox.uidvalidity["INBOX"]
    return f"/mail/{alice_account.pk}/{uidvalidity}/{uid}/"


def test_the_sign_in_page_carries_the_app_headers(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert_app_page_headers(response)


@pytest.mark.parametrize(
    "url",
    ["/mail/", "/mail/{account}/?folder=INBOX", "/settings/", "/settings/accounts/", "/nowhere/"],
)
def test_the_mail_and_settings_pages_carry_the_app_headers(alice_client, alice_account, url):
    response = alice_client.get(url.format(account=alice_account.pk))
    assert response.status_code in (200, 302, 404)
    assert_app_page_headers(response)


def test_a_page_that_does_not_exist_carries_the_app_headers(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert_app_page_headers(response)


def test_the_admin_carries_the_app_headers(admin_client):
    for url in ("/admin/", "/admin/accounts/user/", "/admin/login/"):
        response = admin_client.get(url)
        assert response.status_code in (200, 302)
        assert_app_page_headers(response)


def test_the_message_page_carries_the_app_headers(alice_client, message_url):
    response = alice_client.get(message_url, {"folder": "INBOX"})
    assert response.status_code == 200
    assert_app_page_headers(response)


def test_the_message_body_document_has_its_own_stricter_policy(alice_client, message_url):
    response = alice_client.get(message_url + "body/", {"folder": "INBOX"})
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert csp == BODY_CSP
    directives = _directives(csp)
    assert directives["default-src"] == "'none'" and "script-src" not in directives
    assert directives["frame-ancestors"] == "'self'"  # only our own message page frames it
    assert directives["sandbox"] == "allow-popups allow-popups-to-escape-sandbox"
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert response["X-Content-Type-Options"] == "nosniff"
    # Links in a mail open from this document: they tell the linked site nothing.
    assert response["Referrer-Policy"] == "no-referrer"


def test_hsts_is_sent_over_https_when_configured(client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.ALLOWED_HOSTS = [HTTPS_HOST]
    response = client.get("/accounts/login/", secure=True, HTTP_HOST=HTTPS_HOST)
    assert response["Strict-Transport-Security"] == "max-age=31536000"
    plain = client.get("/accounts/login/", HTTP_HOST=HTTPS_HOST)
    assert "Strict-Transport-Security" not in plain


def test_hsts_names_sub_domains_and_preload_only_when_the_operator_says_so(client, settings):
    settings.SECURE_HSTS_SECONDS = 63072000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    settings.ALLOWED_HOSTS = [HTTPS_HOST]
    response = client.get("/accounts/login/", secure=True, HTTP_HOST=HTTPS_HOST)
    assert response["Strict-Transport-Security"] == ("max-age=63072000; includeSubDomains; preload")


def _https_login_post(settings, **headers):
    """A sign-in form posted over HTTPS the way a browser does, with the CSRF cookie and
    token from the form it was shown."""
    settings.ALLOWED_HOSTS = [HTTPS_HOST]
    settings.CSRF_TRUSTED_ORIGINS = [f"https://{HTTPS_HOST}"]
    browser = Client(enforce_csrf_checks=True)
    form = browser.get("/accounts/login/", secure=True, HTTP_HOST=HTTPS_HOST)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.content.decode()).group(1)
    return browser.post(
        "/accounts/login/",
        {"username": "nobody", "password": "wrong-password", "csrfmiddlewaretoken": token},
        secure=True,
        HTTP_HOST=HTTPS_HOST,
        **headers,
    )


def test_a_form_posted_over_https_with_our_origin_and_no_referer_is_accepted(settings):
    response = _https_login_post(settings, HTTP_ORIGIN=f"https://{HTTPS_HOST}")
    # Past the CSRF check (a refusal is a 403): the form again, the sign-in having failed.
    assert response.status_code == 200
    assert 'name="username"' in response.content.decode()


def test_our_own_form_posted_under_no_referrer_is_accepted(settings):
    """Under no-referrer Chromium posts our own forms with `Origin: null` and no Referer
    (checked with Debian's Chromium 2026), and with `Sec-Fetch-Site: same-origin`, which no
    page can forge: that proves the origin (webmail.middleware.FetchMetadataOriginMiddleware)."""
    response = _https_login_post(settings, HTTP_ORIGIN="null", HTTP_SEC_FETCH_SITE="same-origin")
    assert response.status_code == 200
    assert 'name="username"' in response.content.decode()


@pytest.mark.parametrize("fetch_site", ["cross-site", "same-site", "none", None])
def test_a_null_origin_from_anywhere_else_is_refused(settings, fetch_site):
    # Another site, a sandboxed frame, or a browser that sends no Fetch Metadata.
    headers = {"HTTP_ORIGIN": "null"}
    if fetch_site:
        headers["HTTP_SEC_FETCH_SITE"] = fetch_site
    assert _https_login_post(settings, **headers).status_code == 403


def test_a_forged_same_origin_claim_still_needs_the_token(settings):
    settings.ALLOWED_HOSTS = [HTTPS_HOST]
    browser = Client(enforce_csrf_checks=True)
    browser.get("/accounts/login/", secure=True, HTTP_HOST=HTTPS_HOST)
    response = browser.post(
        "/accounts/login/",
        {"username": "nobody", "password": "wrong-password"},
        secure=True,
        HTTP_HOST=HTTPS_HOST,
        HTTP_ORIGIN="null",
        HTTP_SEC_FETCH_SITE="same-origin",
    )
    assert response.status_code == 403
