"""Playwright fixtures: Debian's Chromium, one browser per run, a fresh context per test.

Playwright's own browser download does not work here, so the browser is always Debian's
`/usr/bin/chromium`. tests/conftest.py imports these fixtures and runs `browser` tests last
(see `pytest_collection_modifyitems` there): Playwright's sync API keeps an asyncio loop
marked as running in the main thread for as long as the browser lives, which would break
`asyncio.run()` and Django's async-safety checks in any test that ran after it.
"""

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# Auto-waiting gives up after this long, so a broken page fails in seconds, not in 30 s.
TIMEOUT_MS = 10_000


@pytest.fixture(scope="session")
def browser():
    """One Chromium for the whole run."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"Browser tests need Debian's Chromium at {CHROMIUM} (apt install chromium)")
    from playwright.sync_api import sync_playwright

    # The sync API runs an event loop in this thread; the ORM calls the tests make between
    # browser steps would otherwise raise SynchronousOnlyOperation.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, live_server):
    """A page in its own browser context (no cookies shared between tests).

    Relative URLs go to the live server: `page.goto("/admin/")`. Uncaught JavaScript
    errors are collected in `page.js_errors` for tests to assert on.
    """
    new_page = open_page(browser, live_server)
    yield new_page
    new_page.context.close()


def open_page(browser, live_server, **context_options):
    """A page in a new browser context made with `context_options` (a phone's viewport,
    `is_mobile`, `has_touch`…), as the `page` fixture's; close its `context` when done."""
    context = browser.new_context(base_url=live_server.url, **context_options)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    new_page = context.new_page()
    new_page.js_errors = []
    new_page.on("pageerror", lambda error: new_page.js_errors.append(str(error)))
    return new_page
