"""The hostile-message security suite (issue 6): every tests/fixtures/hostile/*.eml, each
drawn from a public webmail advisory (its X-Postfach-Source field), is delivered to Dovecot
and opened in Chromium through the reading page.

For each message: no dialog, no marker (spied alert/open/postMessage, console, page title),
no request to a host other than ours before or after "Show images" (remote images then come
through our proxy), a body frame whose DOM holds only what the sanitizer allows, attachments
that are downloads and never pages, and a sender shown by its real address.

One browser context and one page serve every message, and a session cookie is planted
instead of signing in through the form: what is left is the reading page itself, about a
second a message on the 2-core machine under the load of other test runs.
"""

import email
import email.policy
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client, override_settings

from accounts.models import User
from tests.browser.conftest import SPY_SCRIPT, Watch
from tests.dovecot import new_mail_user
from tests.personas import account_for
from webmail import sanitize

# The mark makes pytest-django set up the test database; the messages are opened once, by
# the module fixture `hostile_results`, outside any test's transaction.
pytestmark = [pytest.mark.browser, pytest.mark.django_db]

HOSTILE = Path(__file__).resolve().parents[1] / "fixtures" / "hostile"
FILES = sorted(path.name for path in HOSTILE.glob("*.eml"))
PWNED_TITLE = "pwned"
# What tests/conftest.py's autouse fixtures set per test (_plain_static_files and the mail
# servers on loopback), for this module's fixture, which runs before them.
PER_TEST_SETTINGS = {
    "STORAGES": {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    },
    "MAIL_HOSTS_ALLOWED": ["127.0.0.1", "::1", "localhost"],
}

# Messages posted to the app's window are a marker too (`top.postMessage('PWNED', '*')`).
MESSAGE_SPY = """
if (window === window.top) {
  window.addEventListener("message", (e) => {
    (window.__postfach_spy = window.__postfach_spy || []).push("message:" + String(e.data));
  });
}
"""
# What a script or a CSP/sandbox refusal says on the console: any of it means hostile
# markup reached the browser, even where the sandbox or the CSP then stopped it.
CONSOLE_ALARM = re.compile(
    r"PWNED|HOSTILE|Content Security Policy|Blocked script execution|sandboxed|"
    r"evil\.example|tracker\.example",
    re.IGNORECASE,
)
# Everything the body document may hold: the sanitizer's elements plus body.html's frame.
FRAME_TAGS = sanitize.ALLOWED_TAGS | {"html", "head", "body", "meta", "style"}
# What the checks need of the page and of its body frame, one round trip each.
PAGE_STATE = """
() => {
  const frame = document.querySelector("iframe.message-body");
  const hrefs = (selector) => [...document.querySelectorAll(selector)].map((a) => a.href);
  return {
    sandbox: frame ? frame.getAttribute("sandbox") : null,
    spied: window.__postfach_spy || [],
    title: document.title,
    attachments: hrefs("a.attachment-name"),
    nested: hrefs("a.attachment-open"),
    remoteBlocked: document.querySelector(".notice-remote") !== null,
  };
}
"""
FRAME_STATE = """
() => ({
  title: document.title,
  elements: [...document.querySelectorAll("*")].map((el) => [
    el.localName, el.namespaceURI, [...el.attributes].map((a) => [a.name, a.value]),
  ]),
})
"""
# Never served as what they are: a browser would render or run them on our origin.
ACTIVE_TYPES = ("text/html", "image/svg+xml", "xml", "javascript", "xhtml")


def _header(name: str, field: str) -> str | None:
    message = email.message_from_bytes((HOSTILE / name).read_bytes(), policy=email.policy.compat32)
    value = message.get(field)
    return str(value).strip() if value is not None else None


@pytest.fixture(scope="module")
def hostile_mailbox(dovecot):
    """A Dovecot user whose INBOX holds every hostile message: (user, uidvalidity, uids)."""
    user = new_mail_user(dovecot, "hostile")
    uids = user.append_many("INBOX", [(HOSTILE / name).read_bytes() for name in FILES])
    return user, user.uidvalidity("INBOX"), dict(zip(FILES, uids, strict=True))


@pytest.fixture(scope="module")
def hostile_results(request, browser, dovecot, hostile_mailbox, django_db_setup, django_db_blocker):
    """Opens every hostile message once, in one context and one page, and gives what went
    wrong with each (None: nothing). The tests below only report it, file by file.

    Done once for the module because a database emptied after every test (what a test
    using live_server gets) would cost a sign-in and a flush per message: the reader, their
    account and their session are made here and removed afterwards."""
    live_server = request.getfixturevalue("live_server")
    mail_user, uidvalidity, uids = hostile_mailbox
    results: dict[str, str | None] = {}
    with (
        django_db_blocker.unblock(),
        live_server._live_server_modified_settings,
        override_settings(**PER_TEST_SETTINGS),
    ):
        user = User.objects.create(username="hostile-reader")
        try:
            account = account_for(user, dovecot, mail_user)
            page = _hostile_page(browser, live_server.url, user)
            for name in FILES:
                url = (
                    f"{live_server.url}/mail/{account.pk}/{uidvalidity}/{uids[name]}/?folder=INBOX"
                )
                try:
                    _check_message(page, name, url)
                except Exception as error:  # an assertion or a Playwright error: report it
                    results[name] = f"{type(error).__name__}: {error}"
                else:
                    results[name] = None
            page.context.close()
        finally:
            Session.objects.all().delete()
            user.delete()
    return results


def _hostile_page(browser, origin: str, user):
    """One context whose every request is routed: ours goes through, anything else is
    recorded and aborted. The reader's session cookie is planted (no sign-in form)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    watch = Watch(origin)
    context.add_init_script(SPY_SCRIPT)
    context.add_init_script(MESSAGE_SPY)
    static: dict[str, tuple[int, dict, bytes]] = {}

    def route(route):
        # Routing turns Chromium's cache off, so the app's static files (six requests a
        # page) are answered from here after their first load.
        url = route.request.url
        if not url.startswith(f"{origin}/static/"):
            return watch.route(route)
        if url not in static:
            response = route.fetch()
            static[url] = (response.status, response.headers, response.body())
        status, headers, body = static[url]
        route.fulfill(status=status, headers=headers, body=body)

    context.route("**/*", route)
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": origin}])
    page = context.new_page()
    page.on("dialog", lambda d: (watch.dialogs.append(d.message), d.dismiss()))
    page.on("console", lambda m: watch.console.append(m.text))
    page.watch = watch
    return page


def _watch_reset(watch: Watch) -> None:
    for seen in (watch.requests, watch.foreign, watch.dialogs, watch.console):
        seen.clear()


def _frame_problems(page, origin: str) -> list[str]:
    """What in the body frame's DOM the sanitizer should never have let through."""
    (frame,) = [f for f in page.main_frame.child_frames if "/body/" in f.url]
    state = frame.evaluate(FRAME_STATE)
    problems = ["frame title changed"] if state["title"] == PWNED_TITLE else []
    for tag, namespace, attributes in state["elements"]:
        if tag not in FRAME_TAGS or namespace != "http://www.w3.org/1999/xhtml":
            problems.append(f"element <{tag}> ({namespace})")
        for name, value in attributes:
            if tag in ("meta", "html", "head", "body"):
                continue  # body.html's own frame
            allowed = sanitize._attribute_allowed(tag, name, value) or (
                tag == "a" and name in ("target", "rel")
            )
            if not allowed or name.lower().startswith("on"):
                problems.append(f"<{tag} {name}={value!r}>")
            if name == "href" and not re.match(r"^(https?:|mailto:)", value):
                problems.append(f"<{tag} href={value!r}>")
            if name == "src" and not (
                value.startswith("/mail/") or value.startswith(origin + "/mail/")
            ):
                problems.append(f"<{tag} src={value!r}>")
    return problems


def _assert_inert(page, name: str) -> dict:
    """Checks the page as it is now; returns its PAGE_STATE for the checks that follow."""
    watch = page.watch
    state = page.evaluate(PAGE_STATE)
    if state["sandbox"] is not None:
        sandbox = state["sandbox"]
        assert "allow-scripts" not in sandbox and "allow-same-origin" not in sandbox, name
        assert _frame_problems(page, watch.origin) == [], name
    assert watch.dialogs == [], name
    assert state["spied"] == [], name
    assert [m for m in watch.console if CONSOLE_ALARM.search(m)] == [], name
    assert state["title"] != PWNED_TITLE, name
    assert urlsplit(page.url).netloc == urlsplit(watch.origin).netloc, name
    assert watch.foreign == [], name
    return state


def _assert_attachments_are_downloads(page, name: str, hrefs: list[str]) -> None:
    for href in hrefs:
        response = page.request.get(href)
        assert response.status == 200, (name, href)
        headers = response.headers
        content_type = headers.get("content-type", "")
        assert not any(kind in content_type for kind in ACTIVE_TYPES), (name, content_type)
        assert headers.get("content-disposition", "").startswith("attachment"), (name, href)
        assert headers.get("x-content-type-options") == "nosniff", (name, href)
        assert "sandbox" in headers.get("content-security-policy", ""), (name, href)


def _assert_sender_is_real(page, name: str) -> None:
    real = _header(name, "X-Postfach-Expect-Sender")
    if real is None:
        return
    sender = page.locator(".meta-from")
    assert real in sender.inner_text(), name
    spoofed = _header(name, "X-Postfach-Spoofed-Address")
    if spoofed is None:
        return
    # The only address set apart as an address is the real one; the name that pretends to
    # be an address is quoted, and the page says where the message really comes from.
    addresses = sender.locator(".mailbox-addr").all_inner_texts()
    assert addresses == [f"<{real}>"], (name, addresses)
    warning = page.locator(".notice-sender")
    assert warning.count() == 1, name
    assert real in warning.inner_text(), name
    assert spoofed not in warning.inner_text(), name


def _check_message(page, name: str, url: str) -> None:
    _watch_reset(page.watch)
    response = page.goto(url)  # "load" waits for the body frame's load too
    assert response.status == 200, name
    state = _assert_inert(page, name)
    _assert_sender_is_real(page, name)
    _assert_attachments_are_downloads(page, name, state["attachments"])
    for nested in state["nested"]:
        assert page.goto(nested).status == 200, (name, nested)
        _assert_inert(page, name)
    if state["nested"]:
        page.goto(url)
    if state["remoteBlocked"]:
        # With consent, remote images come through our proxy: still nothing leaves.
        page.get_by_role("link", name="Show images").click()
        page.wait_for_load_state("load")
        assert "images=1" in page.url, name
        _assert_inert(page, name)


@pytest.mark.parametrize("name", FILES)
def test_a_hostile_message_runs_nothing_loads_nothing_and_names_its_real_sender(
    name, hostile_results
):
    problem = hostile_results[name]
    if problem is not None:
        pytest.fail(f"{name}: {problem}", pytrace=False)


def test_the_suite_covers_at_least_sixty_messages_each_with_its_source():
    assert len(FILES) >= 60
    for name in FILES:
        assert _header(name, "X-Postfach-Source"), name
        for field in ("From", "To", "Subject", "Date", "Message-ID"):
            assert _header(name, field), (name, field)
