"""Debian's Chromium driven by Playwright: never a downloaded browser."""

import os

# Playwright's sync API runs an event loop in this thread; Django then refuses ORM calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

# Wraps every way a page could announce itself, in every frame that may run script. A
# sandboxed mail body without allow-scripts never runs it, which is the point.
SPY_SCRIPT = """
(() => {
  const mark = (what) => { try { (window.top.__postfach_spy = window.top.__postfach_spy || []).push(what); } catch (e) {} };
  for (const name of ["alert", "confirm", "prompt", "print", "open"]) {
    const original = window[name];
    window[name] = function (...args) { mark(name + ":" + String(args[0])); return original ? undefined : undefined; };
  }
})();
"""


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium as root")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Watch:
    """What the browser did: every request, which of them left our origin, and dialogs."""

    def __init__(self, origin: str):
        self.origin = origin
        self.requests: list[str] = []
        self.foreign: list[str] = []
        self.dialogs: list[str] = []
        self.console: list[str] = []

    def route(self, route):
        url = route.request.url
        self.requests.append(url)
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" == self.origin or parts.scheme in ("data", "blob"):
            route.continue_()
        else:  # nothing may leave the machine: record it and answer locally
            self.foreign.append(url)
            route.abort()


@pytest.fixture
def page(browser, live_server):
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    watch = Watch(live_server.url)
    context.add_init_script(SPY_SCRIPT)
    context.route("**/*", watch.route)
    page = context.new_page()
    page.on("dialog", lambda d: (watch.dialogs.append(d.message), d.dismiss()))
    page.on("console", lambda m: watch.console.append(m.text))
    page.watch = watch
    yield page
    context.close()
