"""Searching messages in the web client: results grouped by chat with the words found
marked, and a click opening the chat at the message with the messages around it; newer
ones loaded by scrolling down, "jump to the latest"; on a phone, in Russian."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest

from parley.testing import ServerProcess

from .browser_support import Person, expect
from .test_web_language import register_in_russian


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of this module's own, sending fast allowed (the tests fill chats)."""
    process = ServerProcess(
        tmp_path_factory.mktemp("search-data"), "--rate-limit", "1000", "--rate-burst", "1000"
    ).start()
    try:
        yield process
    finally:
        process.stop()


def one_word(unique: Callable[[str], str], base: str) -> str:
    """A word no other test writes: a unique name without its "_" (which would split it)."""
    return unique(base).replace("_", "")


def texts(person: Person) -> list[str]:
    return list(person.page.locator("#message-list .msg .msg-text").all_inner_texts())


def search(person: Person, query: str) -> None:
    box = person.page.locator("#search-input")
    box.fill(query)
    box.press("Enter")


def test_search_and_open_a_result_with_its_context(
    people: Callable[..., Person], server: ServerProcess, unique: Callable[[str], str]
) -> None:
    a, b, room, word = unique("alice"), unique("bob"), unique("notes"), one_word(unique, "deploy")
    alice = people(url=server.http)
    alice.register(a)
    alice.create_chat(room)
    alice.say(f"{word}ed the parser on Friday")
    fillers = [f"filler {n}" for n in range(70)]
    for text in fillers:
        alice.say(text)
    expect(alice.message_with_text("filler 69")).to_have_count(1)
    alice.enter_chat("general")
    alice.say(f"{word} tomorrow?")
    expect(alice.message_with_text(f"{word} tomorrow?")).to_have_count(1)

    # Results newest first, grouped by chat, each word found marked.
    search(alice, word.upper())
    page = alice.page
    status = page.locator("#search-status")
    expect(status).to_have_text(f"2 messages found for “{word.upper()}”:")
    expect(page.locator("#search-groups .search-chat")).to_have_text(["general", room])
    results = page.locator("#search-groups .search-result")
    expect(results.locator(".search-text")).to_have_text(
        [f"{word} tomorrow?", f"{word}ed the parser on Friday"]
    )
    expect(results.locator("mark")).to_have_text([word, f"{word}ed"])
    expect(results.locator(".msg-user")).to_have_text([a, a])
    alice.screenshot("search-results")

    # A click opens the chat at that message, with the 50 after it (it is the first).
    results.nth(1).click()
    expect(page.locator("#chat-name")).to_have_text(room)
    target = alice.message_with_text(f"{word}ed the parser on Friday")
    expect(target).to_have_class(re.compile(r"\bhighlight\b"))
    expect(target).to_be_in_viewport()
    expect(alice.messages()).to_have_count(51)
    assert texts(alice) == [f"{word}ed the parser on Friday", *fillers[:50]]
    jump = page.locator("#jump-bottom")
    expect(jump).to_have_text("Jump to the latest ↓")
    alice.screenshot("search-opened")

    # Someone writes meanwhile: not appended below the gap; the button stays.
    bob = people(url=server.http)
    bob.register(b)
    bob.enter_chat(room)
    bob.say("a new one")
    expect(bob.message_with_text("a new one")).to_have_count(1)
    expect(alice.page.locator("#online-list")).to_contain_text(b)
    assert texts(alice)[-1] == "filler 49"
    expect(jump).to_be_visible()

    # Scrolling down loads the newer messages, up to the newest.
    page.locator("#messages").evaluate("(s) => { s.scrollTop = s.scrollHeight; }")
    expect(alice.message_with_text("a new one")).to_have_count(1)
    assert texts(alice) == [f"{word}ed the parser on Friday", *fillers, "a new one"]

    # The results stay: each opens its chat at the message.
    results.nth(0).click()
    expect(page.locator("#chat-name")).to_have_text("general")
    results.nth(1).click()
    expect(page.locator("#chat-name")).to_have_text(room)
    expect(alice.messages()).to_have_count(51)
    alice.enter_chat("general")
    # Opened again from another chat, then "jump to the latest": its newest page, as usual.
    results.nth(1).click()
    expect(alice.messages()).to_have_count(51)
    expect(jump).to_have_text("Jump to the latest ↓")
    jump.click()
    expect(alice.messages()).to_have_count(30)
    assert texts(alice)[-2:] == ["filler 69", "a new one"]
    expect(jump).to_be_hidden()
    bob.say("and live again")
    expect(alice.message_with_text("and live again")).to_have_count(1)


def test_search_on_a_phone_in_russian(
    people: Callable[..., Person], server: ServerProcess, unique: Callable[[str], str]
) -> None:
    name, word = unique("pavel"), one_word(unique, "релиз")
    phone = people(url=server.http, viewport={"width": 390, "height": 844}, locale="ru-RU")
    register_in_russian(phone, name)
    phone.enter_chat("general")
    phone.say(f"Готовим {word} к пятнице")
    expect(phone.message_with_text(f"Готовим {word} к пятнице")).to_have_count(1)
    phone.page.get_by_role("button", name="Назад к чатам").click()
    search(phone, word)
    page = phone.page
    expect(page.locator("#search-status")).to_have_text(f"По запросу «{word}» найдено 1 сообщение:")
    expect(page.locator("#search-groups mark")).to_have_text([word])
    box = page.locator("#search-results").bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= 390
    phone.screenshot("search-phone-ru")
    page.locator("#search-groups .search-result").click()
    expect(page.locator("#chat-name")).to_have_text("general")
    expect(phone.message_with_text(f"Готовим {word} к пятнице")).to_have_class(
        re.compile(r"\bhighlight\b")
    )
    search_box = page.locator("#search-input")
    expect(search_box).to_be_hidden()  # the list, and the search with it, is behind the chat
    page.get_by_role("button", name="Назад к чатам").click()
    page.get_by_role("button", name="Закрыть поиск").click()
    expect(page.locator("#search-results")).to_be_hidden()
    search(phone, f"{word}нет")
    expect(page.locator("#search-status")).to_have_text(
        f"По запросу «{word}нет» ничего не найдено."
    )
