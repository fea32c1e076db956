"""The chat list in the web client: it asks for changes as deltas and applies them."""

from __future__ import annotations

import json
from collections.abc import Callable

from .browser_support import Person, expect

LISTEN = """() => {
  window.__frames = [];
  for (const s of window.__sockets) {
    s.addEventListener("message", (event) => window.__frames.push(event.data));
  }
}"""


def list_frames(person: Person) -> list[dict[str, object]]:
    frames = [json.loads(f) for f in person.page.evaluate("() => window.__frames")]
    return [f for f in frames if f.get("Command") == "list"]


def test_the_list_follows_creates_and_deletes_by_deltas(
    people: Callable[..., Person], unique: Callable[[str], str]
) -> None:
    alice, bob = people(), people()
    alice.register(unique("alice"))
    bob.register(unique("bob"))
    expect(bob.chat_button("general")).to_be_visible()
    bob.page.evaluate(LISTEN)
    room = unique("room")

    alice.create_chat(room)
    expect(bob.chat_button(room)).to_be_visible()
    expect(bob.chat_button("general")).to_be_visible()
    alice.page.once("dialog", lambda dialog: dialog.accept())
    alice.page.locator("#delete-chat").click()
    expect(bob.chat_button(room)).to_have_count(0)
    expect(alice.chat_button(room)).to_have_count(0)
    expect(bob.chat_button("general")).to_be_visible()

    owner = {"name": room, "closed": False, "owner": alice.page.locator("#me-name").inner_text()}
    assert list_frames(bob) == [
        {"Type": "chat", "Command": "list", "Added": [owner], "Removed": []},
        {"Type": "chat", "Command": "list", "Added": [], "Removed": [room]},
    ]
