"""Drafts in the web client: one per chat, kept across chat switches and reloads, and
kept on screen when the open chat is deleted."""

from __future__ import annotations

from collections.abc import Callable

from .browser_support import Person, expect


def test_each_chat_keeps_its_draft(
    people: Callable[..., Person], unique: Callable[[str], str]
) -> None:
    alice = people()
    alice.register(unique("alice"))
    box = alice.page.locator("#text-input")
    one, two = unique("one"), unique("two")
    alice.create_chat(one)
    box.fill("half a thought for one")
    alice.create_chat(two)
    expect(box).to_have_value("")
    box.fill("something for two")
    alice.enter_chat(one)
    expect(box).to_have_value("half a thought for one")
    alice.enter_chat("general")
    expect(box).to_have_value("")
    alice.enter_chat(two)
    expect(box).to_have_value("something for two")

    # Sent: the chat has no draft any more.
    box.press("Enter")
    expect(alice.message_with_text("something for two")).to_have_count(1)
    expect(box).to_have_value("")
    # A reload keeps them (this tab's sessionStorage).
    alice.page.reload()
    expect(alice.page.locator("#chat-name")).to_have_text(two)
    expect(box).to_have_value("")
    alice.enter_chat(one)
    expect(box).to_have_value("half a thought for one")
    alice.screenshot("draft-restored")


def test_a_draft_stays_when_its_chat_is_deleted(
    people: Callable[..., Person], unique: Callable[[str], str]
) -> None:
    alice, bob = people(), people()
    alice.register(unique("alice"))
    bob.register(unique("bob"))
    room = unique("doomed")
    alice.create_chat(room)
    bob.enter_chat(room)
    bob.page.locator("#text-input").fill("a long answer, half written")

    alice.page.once("dialog", lambda dialog: dialog.accept())
    alice.page.locator("#delete-chat").click()
    expect(bob.chat_button(room)).to_have_count(0)
    expect(bob.page.locator("#chat-name")).to_have_text("Choose a chat")
    expect(bob.page.locator("#text-input")).to_have_value("a long answer, half written")
    expect(bob.page.locator("#composer-error")).to_have_text(
        f"“{room}” was deleted. What you wrote is kept here: choose another chat to send it there.")
    toast = bob.page.locator(".toast").filter(has_text=f"“{room}” was deleted by its owner.")
    expect(toast).to_have_count(1)
    bob.screenshot("draft-kept-after-delete")

    # The next chat opened gets it.
    bob.enter_chat("general")
    expect(bob.page.locator("#text-input")).to_have_value("a long answer, half written")
    expect(bob.page.locator("#composer-error")).to_be_hidden()
