"""End-to-end tests of the web client: headless Chromium against a real `parley serve`.

Needs the `playwright` Python package and a Chromium at /usr/bin/chromium (Debian's
`chromium` package; Playwright's own browser download is not used). Without them the
tests are skipped, unless the CI environment variable is set: then they fail.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from parley.testing import ServerProcess

from .browser_support import Person

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Keeps a handle on every WebSocket the page opens, so a test can cut one off
# the way a network failure would (the page's own code never sees this list).
TRACK_SOCKETS = """
(() => {
  const Native = window.WebSocket;
  window.__sockets = [];
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      window.__sockets.push(this);
    }
  };
})();
"""


def unavailable(reason: str) -> None:
    """Skip, or fail when running in CI, because the browser tests cannot run here."""
    if os.environ.get("CI"):
        pytest.fail(f"browser tests cannot run: {reason} (CI is set, so this is a failure)")
    pytest.skip(f"browser tests skipped: {reason}")


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `parley serve` on a free port, shared by the browser tests."""
    server = ServerProcess(tmp_path_factory.mktemp("parley-data")).start()
    try:
        yield server.http
    finally:
        server.stop()


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of the test's own, not yet started, which it may stop and start again."""
    server = ServerProcess(tmp_path / "data")
    try:
        yield server
    finally:
        if server.alive():
            server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium from the system, driven by Playwright's sync API."""
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} not found (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright Python package is not installed (pip install playwright)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


_names = itertools.count(1)


@pytest.fixture
def unique() -> Callable[[str], str]:
    """unique("alice") -> "alice_1a2b_7": names that do not collide across tests."""
    run = format(os.getpid() % 0xFFFF, "x")
    return lambda base: f"{base}_{run}_{next(_names)}"


@pytest.fixture
def people(browser: Any, server_url: str) -> Iterator[Callable[..., Any]]:
    """people() opens a fresh browser context (its own storage) on the client."""
    contexts: list[Any] = []
    persons: list[Any] = []

    def open_person(
        viewport: dict[str, int] | None = None,
        url: str | None = None,
        locale: str | None = None,
        timezone_id: str | None = None,
    ) -> Person:
        options: dict[str, Any] = {"viewport": viewport or {"width": 1280, "height": 800}}
        if locale is not None:
            options["locale"] = locale  # the browser's language (navigator.languages)
        if timezone_id is not None:
            options["timezone_id"] = timezone_id
        context = browser.new_context(**options)
        context.set_default_timeout(15_000)
        context.add_init_script(TRACK_SOCKETS)
        contexts.append(context)
        person = Person(context.new_page(), url or server_url).open()
        persons.append(person)
        return person

    yield open_person
    for context in contexts:
        context.close()
    errors = [e for p in persons for e in p.errors]
    assert errors == [], f"uncaught errors in the page: {errors}"
