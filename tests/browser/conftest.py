"""Real Chromium (Debian's, at /usr/bin/chromium) driven by Playwright, against a live stack.

Playwright's own browser download is not used. Without Chromium these tests skip and say how
to get it; under CI (the ``CI`` environment variable set) a missing Chromium fails them.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live.harness import Stack

CHROMIUM = Path(os.environ.get("COUCOU_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PASSWORD = "a-password-for-browser-tests"
DESKTOP = {"width": 1280, "height": 900}
NARROW = {"width": 390, "height": 844}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


def _missing(what: str) -> None:
    message = (
        f"{what}: install Chromium with `apt-get install chromium` (Debian/Ubuntu), or set COUCOU_CHROMIUM"
    )
    if os.environ.get("CI"):
        pytest.fail(f"{message}. CI must run the browser tests.", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        _missing(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="package")
def foreign_site(browser: Any) -> Iterator[Any]:
    """A page server on another origin (127.0.0.2), for the cross-origin ticket flow."""
    from tests.browser.foreign import ForeignSite

    site = ForeignSite().start()
    yield site
    site.stop()


@pytest.fixture(scope="package")
def stack(browser: Any, foreign_site: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    live = Stack(Path(tmp_path_factory.mktemp("browser-stack")), CSRF_TRUSTED_ORIGINS=foreign_site.origin)
    try:
        live.start_web()
        live.start_worker()
        live.create_users("alice", "bob", "carol", "erin", password=PASSWORD)
        foreign_site.coucou = live
        yield live
    finally:
        live.stop()


@pytest.fixture
def new_page(browser: Any, stack: Stack) -> Iterator[Callable[..., Any]]:
    """Opens pages in fresh browser contexts (separate cookies) on the stack's origin."""
    contexts: list[Any] = []

    def open_page(
        *, context: Any = None, viewport: dict[str, int] = DESKTOP, storage_state: Any = None
    ) -> Any:
        if context is None:
            context = browser.new_context(
                base_url=stack.base_url, viewport=viewport, storage_state=storage_state
            )
            contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.js_errors = errors
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture(scope="package")
def sessions() -> dict[str, Any]:
    """Signed-in browser states by username: a password check costs about a second."""
    return {}


@pytest.fixture
def page_as(new_page: Callable[..., Any], sessions: dict[str, Any]) -> Callable[..., Any]:
    """The demo page of a signed-in user, in a fresh context (through the form the first time)."""

    def open_as(username: str, **options: Any) -> Any:
        if username not in sessions:
            page = new_page(**options)
            sign_in(page, username)
            sessions[username] = page.context.storage_state()
            return page
        page = new_page(storage_state=sessions[username], **options)
        page.goto("/")
        wait_until_live(page)
        return page

    return open_as


def sign_in(page: Any, username: str, password: str = PASSWORD) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    wait_until_live(page)


def wait_until_live(page: Any) -> None:
    from playwright.sync_api import expect

    expect(page.get_by_role("status")).to_have_text("Live")
    expect(page.locator("#jobs")).to_have_attribute("aria-busy", "false")  # the list is loaded


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def wait_for(page: Any, check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll a Python-side condition while Playwright keeps dispatching the page's events."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        page.wait_for_timeout(20)
