"""What a new user runs into in a conversation: sending fast, drafts, reconnecting,
the keyboard, a phone, and how messages are grouped."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from parley.testing import ServerProcess

from .browser_support import Person, expect, stored_texts


def test_rate_limited_messages_are_kept_and_sent_again(
    people: Callable[..., Person], unique: Callable[[str], str], tmp_path: Path
) -> None:
    server = ServerProcess(tmp_path / "data", "--rate-limit", "5", "--rate-burst", "5").start()
    try:
        alice = people(url=server.http)
        alice.register(unique("alice"))
        room = unique("fast")
        alice.create_chat(room)
        box = alice.page.locator("#text-input")
        texts = [f"quick {i}" for i in range(1, 31)]
        for text in texts:
            box.fill(text)
            box.press("Enter")
        # Refused as too fast: nothing is lost, what waits is shown as not sent.
        expect(alice.page.locator("#composer-error")).to_contain_text(
            "You are sending messages too fast.")
        expect(alice.page.locator("#unsent-list .msg.unsent").first).to_be_visible()
        expect(box).to_have_value("")
        # Then everything goes out by itself, each once, in the order typed.
        expect(alice.page.locator("#unsent-list .msg")).to_have_count(0, timeout=60_000)
        expect(alice.page.locator("#message-list .msg-text")).to_have_text(texts)
        assert stored_texts(tmp_path / "data", room) == texts
        expect(alice.page.locator("#composer-error")).to_be_hidden()
    finally:
        server.stop()


def test_what_was_written_offline_goes_out_when_the_connection_is_back(
    people: Callable[..., Person], unique: Callable[[str], str]
) -> None:
    alice = people()
    alice.register(unique("alice"))
    alice.create_chat(unique("offline"))
    alice.page.context.set_offline(True)
    alice.cut_connection()
    expect(alice.page.locator("#banner")).to_be_visible()
    alice.say("written offline")
    error = alice.page.locator("#composer-error")
    expect(error).to_contain_text("Not connected right now.")
    expect(alice.page.locator("#unsent-list .msg-text")).to_have_text(["written offline"])

    alice.page.context.set_offline(False)
    expect(alice.page.locator("#banner")).to_be_hidden()
    # No second Enter: it is sent by itself, and the stale notice goes away.
    expect(alice.message_with_text("written offline")).to_have_count(1)
    expect(error).to_be_hidden()
    expect(alice.page.locator("#unsent-list .msg")).to_have_count(0)
