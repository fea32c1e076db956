"""Shared pieces of the browser tests: where things are, and a person at a page."""

from __future__ import annotations

import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips these tests (fails them under CI) with the reason
    expect = None
else:
    # Generous waits: a loaded CI machine is slow, and waiting costs nothing when things work.
    expect.set_options(timeout=15_000)

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "artifacts" / "screenshots"
DOC_SCREENSHOTS = REPO / "docs" / "screenshots"
PASSWORD = "correct horse battery"
READY = re.compile(r"parley: listening on (http://\S+)")
STARTUP_TIMEOUT_S = 60


class Person:
    """One person at one browser page, with the few steps every test repeats."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", self._on_console)

    def _on_console(self, message: Any) -> None:
        # Anything the page's Content-Security-Policy blocks is a bug in the page.
        if message.type == "error" and "Content Security Policy" in message.text:
            self.errors.append(message.text)

    def open(self) -> Person:
        self.page.goto(self.base_url + "/")
        return self

    def register(self, name: str, password: str = PASSWORD) -> Person:
        page = self.page
        page.get_by_role("tab", name="Sign up").click()
        page.fill("#auth-login", name)
        page.fill("#auth-password", password)
        page.get_by_role("button", name="Create account").click()
        expect(page.locator("#me-name")).to_have_text(name)
        return self

    def log_in(self, name: str, password: str = PASSWORD) -> Person:
        page = self.page
        page.get_by_role("tab", name="Log in").click()
        page.fill("#auth-login", name)
        page.fill("#auth-password", password)
        page.locator("#auth-submit").click()
        expect(page.locator("#me-name")).to_have_text(name)
        return self

    def create_chat(self, name: str, password: str | None = None) -> Person:
        page = self.page
        page.get_by_role("button", name="+ New chat").click()
        page.fill("#create-name", name)
        if password is not None:
            page.fill("#create-password", password)
        page.locator("#create-submit").click()
        expect(page.locator("#chat-name")).to_have_text(name)
        return self

    def chat_button(self, name: str) -> Any:
        return self.page.locator(f'#chat-list .chat-item[data-chat="{name}"]')

    def enter_chat(self, name: str) -> Person:
        self.chat_button(name).click()
        expect(self.page.locator("#chat-name")).to_have_text(name)
        expect(self.page.locator("#composer")).to_be_visible()
        return self

    def say(self, text: str) -> Person:
        box = self.page.locator("#text-input")
        box.fill(text)
        box.press("Enter")
        return self

    def messages(self) -> Any:
        return self.page.locator("#message-list .msg")

    def message_with_text(self, text: str) -> Any:
        return self.page.locator("#message-list .msg").filter(
            has=self.page.locator(".msg-text", has_text=re.compile("^" + re.escape(text) + "$"))
        )

    def cut_connection(self) -> None:
        """Close the page's live WebSocket as a network failure would."""
        self.page.evaluate(
            "() => { for (const s of window.__sockets) if (s.readyState <= 1) s.close(); }"
        )

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path


def _parley_command() -> str:
    beside = Path(sys.executable).parent / "parley"
    if beside.exists():
        return str(beside)
    found = shutil.which("parley")
    if found is None:
        pytest.fail("the `parley` command is not installed (pip install -e '.[test]')")
    return found


class ParleyServer:
    """`parley serve` in a child process, with cheap password hashing for tests."""

    def __init__(self, data_dir: Path, port: int = 0) -> None:
        self.data_dir = data_dir
        self.port = port
        self.url = ""
        self.proc: subprocess.Popen[str] | None = None
        self.drain: threading.Thread | None = None

    def start(self) -> str:
        log_path = self.data_dir.parent / f"{self.data_dir.name}-server.log"
        env = {**os.environ, "PARLEY_ARGON2_PROFILE": "test"}
        command = [_parley_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        with open(log_path, "a") as log:
            self.proc = subprocess.Popen(
                [*command, "--data-dir", str(self.data_dir)],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env=env,
            )
        self.url = _wait_until_listening(self.proc, log_path)
        self.port = int(self.url.rsplit(":", 1)[1])
        # Keep reading stdout so the server can never block on a full pipe.
        assert self.proc.stdout is not None
        self.drain = threading.Thread(target=self.proc.stdout.read, daemon=True)
        self.drain.start()
        return self.url

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        self.proc = None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.drain is not None:
            self.drain.join(timeout=5)
        assert proc.stdout is not None
        proc.stdout.close()


def _wait_until_listening(proc: subprocess.Popen[str], log_path: Path) -> str:
    """Read the server's stdout until it says where it listens."""
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
    proc.stdout.close()
    pytest.fail(f"parley serve did not start; its log:\n{log_path.read_text()}")
