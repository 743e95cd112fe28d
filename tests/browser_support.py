"""Browser support for tests/browser and tests/journeys, loaded as a pytest plugin from
tests/conftest.py: Playwright for Python driving Debian's chromium (never `playwright
install`). Browser tests run wherever a chromium is found — `.ci/run` installs it — and
are skipped, with the reason printed in the summary, where none is. A browser test is one
marked `browser` or using the `browser` fixture (open_page does); the API-only journeys
run either way."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.test import Client

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"


def chromium_path() -> str | None:
    for candidate in (os.environ.get("WFO_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def needs_a_browser(item) -> bool:
    return item.get_closest_marker("browser") is not None or "browser" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(config, items):
    if chromium_path():
        return
    skip = pytest.mark.skip(reason="no chromium found: browser tests skipped (apt-get install chromium)")
    for item in items:
        if needs_a_browser(item):
            item.add_marker(skip)


# How long a page, a click or an expectation may take before it fails. The suite runs two
# test processes on two cores, and a page's first load on a slow machine (the admin's, with
# its scripts and styles from the live server) has taken over 10 s there; the bound only
# sets how long a real failure takes to be reported.
BROWSER_TIMEOUT_MS = 30_000


@pytest.fixture(scope="session")
def browser():
    # Playwright's sync API runs an event loop in this thread; the tests' own ORM calls are
    # still plain synchronous code, so Django's async-safety guard does not apply to them.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=BROWSER_TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def open_page(browser, live_server, settings):
    """open_page(user=None, width=1280, height=800, **context_options) -> a Playwright page
    on the live server, logged in as `user` when given."""
    settings.WFO_INBOX_REFRESH_SECONDS = 1
    contexts = []

    def make(user=None, *, width=1280, height=800, **options):
        context = browser.new_context(viewport={"width": width, "height": height}, base_url=live_server.url, **options)
        context.set_default_timeout(BROWSER_TIMEOUT_MS)
        contexts.append(context)
        if user is not None:
            client = Client()
            client.force_login(user)
            cookie = client.cookies["sessionid"]
            context.add_cookies([{"name": "sessionid", "value": cookie.value, "url": live_server.url}])
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def screenshot():
    SCREENSHOTS.mkdir(exist_ok=True)

    def save(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save


def log_in(page, username: str, password: str = "pw") -> None:
    """Log in through the login form, as a person does (factories' users have password "pw")."""
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def presence_switch_ready(page, words: str) -> None:
    """Wait until the presence switch htmx swapped in says it saved `words` and htmx has
    taken the new form up (a change made before that would go unnoticed)."""
    from playwright.sync_api import expect  # Playwright loads only where a browser test runs

    expect(page.get_by_role("status").filter(has_text=f"Saved: you are {words}.")).to_be_visible()
    page.wait_for_function("() => !!document.querySelector('#presence form')['htmx-internal-data']")


def pend_on_page(page, follow_up=None, *, reason: str = "Waiting for the customer",
                 details: str = "Asked for the delivery receipt") -> None:
    """Pend the item open on `page` until `follow_up` (an aware moment, typed as the
    browser's time zone reads it; None: the form's default, tomorrow 09:00), through the
    item page's form; lands back on My work."""
    import re

    from playwright.sync_api import expect

    page.get_by_text("Pend until a follow-up time").click()
    if follow_up is not None:
        page.get_by_label("Follow up at").fill(follow_up.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Pend reason").select_option(reason)
    page.get_by_label("Pend details").fill(details)
    page.get_by_role("button", name="Pend item").click()
    expect(page).to_have_url(re.compile(r"/work/$"))


def release_on_page(page, *, reason: str = "Needs a skill or authority I don't have",
                    details: str = "French-speaking cardholder") -> None:
    """Release the item open on `page` through the item page's form; lands back on My work."""
    import re

    from playwright.sync_api import expect

    page.get_by_text("Release to the queue").click()
    page.get_by_label("Release reason").select_option(reason)
    page.get_by_label("Release details").fill(details)
    page.get_by_role("button", name="Release item").click()
    expect(page).to_have_url(re.compile(r"/work/$"))


SIZES = {"1280": (1280, 800), "390": (390, 844)}  # a desk's and a phone's


def both_sizes(screenshot, prefix: str):
    """shoot(page, name): full-page screenshots `<prefix>-<name>-1280` and `-390`, at a
    desk's size and a phone's; the page is left at the desk's."""
    def shoot(page, name: str) -> None:
        for size, (width, height) in SIZES.items():
            page.set_viewport_size({"width": width, "height": height})
            screenshot(page, f"{prefix}-{name}-{size}")
        page.set_viewport_size({"width": 1280, "height": 800})

    return shoot
