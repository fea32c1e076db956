"""End-to-end tests of the web client: headless Chromium against a real `parley serve`.

Needs the `playwright` Python package and a Chromium at /usr/bin/chromium (Debian's
`chromium` package; Playwright's own browser download is not used). Without them the
tests are skipped, unless the CI environment variable is set: then they fail.
"""

from __future__ import annotations

import itertools
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

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
READY = re.compile(r"parley: listening on (http://\S+)")
STARTUP_TIMEOUT_S = 60

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


def _parley_command() -> str:
    beside = Path(sys.executable).parent / "parley"
    if beside.exists():
        return str(beside)
    found = shutil.which("parley")
    if found is None:
        pytest.fail("the `parley` command is not installed (pip install -e '.[test]')")
    return found


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `parley serve` on a free port, with cheap password hashing."""
    data_dir = tmp_path_factory.mktemp("parley-data")
    log_path = data_dir.parent / "parley-server.log"
    env = {**os.environ, "PARLEY_ARGON2_PROFILE": "test"}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [
                _parley_command(),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--data-dir",
                str(data_dir),
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=env,
        )
    assert proc.stdout is not None
    try:
        url = _wait_until_listening(proc, log_path)
        # Keep reading stdout so the server can never block on a full pipe.
        drain = threading.Thread(target=proc.stdout.read, daemon=True)
        drain.start()
        yield url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.stdout.close()


def _wait_until_listening(proc: subprocess.Popen[str], log_path: Path) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not sel.select(timeout=0.5):
                if proc.poll() is not None:
                    break
                continue
            line = proc.stdout.readline()
            if line == "":
                break
            match = READY.search(line)
            if match:
                return match.group(1)
    proc.kill()
    proc.wait()
    pytest.fail(f"parley serve did not start; its log:\n{log_path.read_text()}")


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

    from .browser_support import Person

    def open_person(viewport: dict[str, int] | None = None) -> Person:
        context = browser.new_context(viewport=viewport or {"width": 1280, "height": 800})
        context.set_default_timeout(10_000)
        context.add_init_script(TRACK_SOCKETS)
        contexts.append(context)
        person = Person(context.new_page(), server_url).open()
        persons.append(person)
        return person

    yield open_person
    for context in contexts:
        context.close()
    errors = [e for p in persons for e in p.errors]
    assert errors == [], f"uncaught errors in the page: {errors}"
