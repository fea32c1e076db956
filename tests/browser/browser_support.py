"""Shared pieces of the browser tests: where things are, and a person at a page."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

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


def stored_texts(data_dir: Path, chat: str) -> list[str | None]:
    """The texts the server stored in ``chat``, oldest first (read from its SQLite file)."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(data_dir / "parley.db")) as db:
        rows = db.execute(
            "SELECT m.text FROM messages m JOIN chats c ON c.id = m.chat_id"
            " WHERE c.name = ? ORDER BY m.id",
            (chat,),
        ).fetchall()
    return [row[0] for row in rows]
