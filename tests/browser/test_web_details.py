"""The web client's finer points: safety of rendered text, history paging, deleting,
refusals explained, and the narrow-screen layout."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from parley.testing import ServerProcess

from .browser_support import Person, expect

# Sends `count` messages "<prefix> 1".."<prefix> count" to `chat` over a socket of its
# own, logged in with the page's token; waits for each to be stored, and backs off
# when the server's rate limit answers.
SEED_HISTORY = """
async ([chat, prefix, count]) => {
  const ws = new WebSocket(`ws://${location.host}/ws`);
  const queue = [];
  let waiters = [];
  ws.onmessage = (event) => {
    queue.push(JSON.parse(event.data));
    waiters = waiters.filter((check) => !check());
  };
  const until = (pred) => new Promise((resolve) => {
    const check = () => {
      const i = queue.findIndex(pred);
      if (i < 0) return false;
      resolve(queue.splice(i, 1)[0]);
      return true;
    };
    if (!check()) waiters.push(check);
  });
  await new Promise((resolve) => { ws.onopen = resolve; });
  const send = (obj) => ws.send(JSON.stringify(obj));
  send({Type: "account", Command: "login", Token: localStorage.getItem("parley.token")});
  await until((f) => f.Command === "login");
  send({Type: "chat", Command: "choice", Chat: chat});
  await until((f) => f.Command === "choice");
  for (let i = 1; i <= count; i++) {
    send({Type: "chat", Command: "message", Text: `${prefix} ${i}`});
    const answer = await until((f) => f.Command === "message"
      && (f.Status || f.Message.text === `${prefix} ${i}`));
    if (answer.Status === "rate limited") {
      await new Promise((resolve) => setTimeout(resolve, 200));
      i -= 1;
    } else if (answer.Status) {
      throw new Error(`seeding failed: ${answer.Status}`);
    }
  }
  ws.close();
}
"""


def test_text_is_never_html(people: Callable[..., Person], unique: Callable[[str], str]) -> None:
    alice, bob = people(), people()
    a, b = unique("alice"), unique("bob")
    alice.register(a)
    bob.register(b)
    room = f"<img src=x onerror='window.__pwned = 4'>{unique('c')}"
    alice.create_chat(room)
    expect(bob.chat_button(room).locator(".chat-item-name")).to_have_text(room)
    bob.enter_chat(room)

    attacks = [
        '<img src=x onerror="window.__pwned = 1">',
        "<script>window.__pwned = 2</script>",
        '"><svg onload="window.__pwned = 3">',
    ]
    for text in attacks:
        alice.say(text)
    for text in attacks:
        expect(bob.message_with_text(text)).to_have_count(1)
    alice.say(
        "docs at https://example.com/a?b=1&c=<2>, not javascript:alert(1) nor data:text/html,x"
    )
    link = bob.page.locator("#message-list .msg-text a")
    expect(link).to_have_count(1)
    expect(link).to_have_text("https://example.com/a?b=1&c=")
    expect(link).to_have_attribute("href", "https://example.com/a?b=1&c=")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", re.compile(r"\bnoopener\b"))
    expect(bob.page.locator("#message-list .msg-text").last).to_have_text(
        "docs at https://example.com/a?b=1&c=<2>, not javascript:alert(1) nor data:text/html,x"
    )
    for person in (alice, bob):
        assert person.page.evaluate("() => window.__pwned") is None
        expect(
            person.page.locator("#message-list .msg-text :is(img, script, svg, b)")
        ).to_have_count(0)


def test_history_pages_load_on_scrolling_up(
    people: Callable[..., Person], unique: Callable[[str], str]
) -> None:
    # Low enough that one page of 30 grouped (one-line) messages overflows the view.
    alice = people(viewport={"width": 1280, "height": 560})
    alice.register(unique("alice"))
    room = unique("history")
    alice.create_chat(room)
    alice.page.evaluate(SEED_HISTORY, [room, "line", 75])
    expect(alice.message_with_text("line 75")).to_have_count(1)

    alice.page.reload()
    expect(alice.page.locator("#chat-name")).to_have_text(room)
    expect(alice.message_with_text("line 75")).to_be_in_viewport()
    expect(alice.messages()).to_have_count(30)
    expect(alice.messages().first.locator(".msg-text")).to_have_text("line 46")

    scroller = alice.page.locator("#messages")
    scroller.evaluate("(node) => { node.scrollTop = 0; }")
    expect(alice.messages()).to_have_count(60)
    # What was at the top stays in view while the older page is added above it.
    expect(alice.message_with_text("line 46")).to_be_in_viewport()
    scroller.evaluate("(node) => { node.scrollTop = 0; }")
    expect(alice.messages()).to_have_count(75)
    scroller.evaluate("(node) => { node.scrollTop = 0; }")
    expect(alice.page.locator("#history-status")).to_have_text(
        f"This is the beginning of “{room}”."
    )
    texts = alice.page.locator("#message-list .msg-text").all_text_contents()
    assert texts == [f"line {i}" for i in range(1, 76)]


def test_owner_deletes_a_chat(people: Callable[..., Person], unique: Callable[[str], str]) -> None:
    alice, bob = people(), people()
    alice.register(unique("alice"))
    bob.register(unique("bob"))
    room = unique("doomed")
    alice.create_chat(room)
    bob.enter_chat(room)
    alice.say("last words")
    expect(bob.message_with_text("last words")).to_have_count(1)
    expect(bob.page.locator("#delete-chat")).to_be_hidden()

    alice.page.once("dialog", lambda dialog: dialog.accept())
    alice.page.get_by_role("button", name="Delete chat").click()
    expect(alice.page.locator("#toasts")).to_contain_text(f"Chat “{room}” was deleted.")
    expect(bob.page.locator("#toasts")).to_contain_text(f"“{room}” was deleted by its owner.")
    for person in (alice, bob):
        expect(person.page.locator("#chat-name")).to_have_text("Choose a chat")
        expect(person.chat_button(room)).to_have_count(0)
        expect(person.messages()).to_have_count(0)
        expect(person.page.locator("#composer")).to_be_hidden()


def test_refusals_are_explained(
    people: Callable[..., Person], unique: Callable[[str], str]
) -> None:
    alice = people()
    alice.register(unique("alice"))
    room = unique("limits")
    alice.create_chat(room)
    error = alice.page.locator("#composer-error")

    # Over 5 MB: refused before sending.
    big = b"\x89PNG\r\n\x1a\n" + bytes(6 * 1024 * 1024)
    alice.page.set_input_files(
        "#file-input", files=[{"name": "big.png", "mimeType": "image/png", "buffer": big}]
    )
    expect(error).to_have_text("This image is too large (6.0 MB). Images can be at most 5 MB.")
    expect(alice.page.locator("#attachment")).to_be_hidden()

    # A name that is already taken.
    alice.page.get_by_role("button", name="+ New chat").click()
    alice.page.fill("#create-name", room)
    alice.page.locator("#create-submit").click()
    expect(alice.page.locator("#create-error")).to_have_text(
        "A chat with this name already exists."
    )
    alice.page.get_by_role("button", name="Cancel").click()

    # Too many messages at once: the server's rate limit is explained and the text kept.
    alice.page.evaluate(
        """() => {
          const box = document.querySelector("#text-input");
          for (let i = 1; i <= 60; i++) {
            box.value = `burst ${i}`;
            box.dispatchEvent(new KeyboardEvent(
              "keydown", {key: "Enter", bubbles: true, cancelable: true}));
          }
        }"""
    )
    expect(error).to_contain_text("You are sending messages too fast.")
    expect(alice.page.locator("#unsent-list .msg.unsent").first).to_be_visible()
    expect(alice.message_with_text("burst 1")).to_have_count(1)


def test_narrow_screen_shows_one_pane(
    people: Callable[..., Person], unique: Callable[[str], str]
) -> None:
    phone = {"width": 390, "height": 844}
    alice, bob = people(viewport=phone), people()
    a = unique("alice")
    alice.register(a)
    bob.register(unique("bob"))
    room = unique("phone")
    bob.create_chat(room)
    bob.say("Reading this on a phone?")

    sidebar, chat = alice.page.locator("#sidebar"), alice.page.locator("#chat")
    expect(sidebar).to_be_visible()
    expect(chat).to_be_hidden()
    # However long a chat's name, the list fits the screen.
    long_name = f"{unique('long')}: a name long enough to overflow a phone"
    bob.create_chat(long_name)
    bob.enter_chat(room)
    expect(alice.chat_button(long_name)).to_be_visible()
    expect(alice.page.get_by_role("button", name="Log out")).to_be_in_viewport(ratio=1)
    expect(alice.page.get_by_role("button", name="+ New chat")).to_be_in_viewport(ratio=1)
    alice.screenshot("chats-mobile")

    alice.enter_chat(room)
    expect(sidebar).to_be_hidden()
    expect(alice.message_with_text("Reading this on a phone?")).to_be_visible()
    alice.say("Yes, and it fits.")
    expect(bob.message_with_text("Yes, and it fits.")).to_have_count(1)
    width = alice.page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= phone["width"]
    alice.screenshot("chat-mobile")

    alice.page.get_by_role("button", name="Back to chats").click()
    expect(sidebar).to_be_visible()
    expect(chat).to_be_hidden()


@pytest.mark.slow
def test_reconnects_after_a_server_restart(
    people: Callable[..., Person], unique: Callable[[str], str], own_server: ServerProcess
) -> None:
    alice = people(url=own_server.start().http)
    alice.register(unique("alice"))
    expect(alice.page.locator("#chat-name")).to_have_text("general")
    alice.say("before the restart")
    expect(alice.message_with_text("before the restart")).to_have_count(1)

    own_server.stop()
    banner = alice.page.locator("#banner")
    expect(banner).to_contain_text("The server is restarting.")
    alice.say("typed while it is down")
    expect(alice.page.locator("#composer-error")).to_contain_text("Not connected right now.")
    expect(alice.page.locator("#unsent-list .msg-text")).to_have_text(["typed while it is down"])

    # Same port, same data: the page finds it again by itself, still logged in.
    own_server.start()
    expect(banner).to_be_hidden(timeout=30_000)
    expect(alice.page.locator("#auth-form")).to_be_hidden()
    expect(alice.page.locator("#chat-name")).to_have_text("general")
    expect(alice.message_with_text("before the restart")).to_have_count(1)
    # What was typed meanwhile goes out by itself, and the notice is gone.
    expect(alice.message_with_text("typed while it is down")).to_have_count(1)
    expect(alice.page.locator("#composer-error")).to_be_hidden()
    expect(alice.page.locator("#unsent-list .msg")).to_have_count(0)


def test_links_and_image_paths_are_checked(people: Callable[..., Person]) -> None:
    page = people().page
    result = page.evaluate(
        """async () => {
          const { linkify, safeImageSrc } = await import("/static/render.js");
          const links = (text) => {
            const box = document.createElement("div");
            box.append(linkify(text));
            return {
              text: box.textContent,
              links: [...box.querySelectorAll("a")].map((a) => [a.textContent, a.href, a.rel]),
            };
          };
          return {
            sentence: links("see https://a.example/x. Then (https://b.example/y) too"),
            schemes: links("javascript:alert(1) ftp://c.example data:text/html,<b>x</b>"),
            upper: links("HTTPS://D.EXAMPLE/Q?x=1"),
            images: [
              "/images/general/0123.png", "/images/../secret", "//evil.example/images/x.png",
              "javascript:alert(1)", "https://evil.example/images/x.png", 42,
            ].map(safeImageSrc),
          };
        }"""
    )
    rel = "noopener noreferrer nofollow"
    assert result["sentence"] == {
        "text": "see https://a.example/x. Then (https://b.example/y) too",
        "links": [
            ["https://a.example/x", "https://a.example/x", rel],
            ["https://b.example/y", "https://b.example/y", rel],
        ],
    }
    assert result["schemes"] == {
        "text": "javascript:alert(1) ftp://c.example data:text/html,<b>x</b>",
        "links": [],
    }
    assert result["upper"]["links"] == [["HTTPS://D.EXAMPLE/Q?x=1", "https://d.example/Q?x=1", rel]]
    assert result["images"] == ["/images/general/0123.png", None, None, None, None, None]


def test_server_failures_are_explained(
    people: Callable[..., Person], unique: Callable[[str], str]
) -> None:
    alice = people()
    alice.register(unique("alice"))
    room = unique("faults")
    alice.create_chat(room)

    # Between page and server, answer three messages the way a server in trouble would.
    def route(ws: Any) -> None:
        server = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            text = json.loads(message).get("Text")
            if text == "the database is down":
                ws.send(json.dumps({"Type": "chat", "Command": "message", "Status": "error"}))
            elif text == "far too big":
                ws.close(code=1009)
            elif text == "garbled":
                error = {"Type": "error", "Status": "error in json file", "Detail": "not JSON"}
                ws.send(json.dumps(error))
            else:
                server.send(message)

        ws.on_message(from_page)

    alice.page.route_web_socket(re.compile(r"/ws$"), route)
    alice.page.reload()
    expect(alice.page.locator("#chat-name")).to_have_text(room)
    error = alice.page.locator("#composer-error")
    box = alice.page.locator("#text-input")

    alice.say("the database is down")
    expect(error).to_have_text(
        "The server could not save your message. Please try again in a moment."
    )
    expect(box).to_have_value("the database is down")

    box.fill("far too big")
    box.press("Enter")
    expect(error).to_have_text("The last message was too large for the server.")
    expect(box).to_have_value("far too big")
    banner = alice.page.locator("#banner")
    expect(banner).to_contain_text("The last message was too large for the server.")
    expect(banner).to_be_hidden()

    box.fill("garbled")
    box.press("Enter")
    expect(alice.page.locator("#toasts")).to_contain_text(
        "The server did not understand a request from this page (not JSON)"
    )

    alice.say("all is well again")
    expect(alice.message_with_text("all is well again")).to_have_count(1)
    expect(alice.messages()).to_have_count(1)


def test_messages_in_flight_when_the_socket_dies_arrive_once(
    people: Callable[..., Person], unique: Callable[[str], str]
) -> None:
    alice, bob = people(), people()
    alice.register(unique("alice"))
    bob.register(unique("bob"))
    room = unique("flight")
    alice.create_chat(room)
    bob.enter_chat(room)

    # The socket dies right after a message leaves the page: once after the server
    # got it (the answer is lost), once before (the message itself is lost).
    def route(ws: Any) -> None:
        server = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            text = json.loads(message).get("Text")
            if text in cut:
                cut.remove(text)
                if text == "stored, answer lost":
                    server.send(message)
                ws.close(code=4000)
            else:
                server.send(message)

        ws.on_message(from_page)

    cut = {"stored, answer lost", "lost on the way"}
    alice.page.route_web_socket(re.compile(r"/ws$"), route)
    alice.page.reload()
    expect(alice.page.locator("#chat-name")).to_have_text(room)

    alice.say("stored, answer lost")
    expect(bob.message_with_text("stored, answer lost")).to_have_count(1)
    expect(alice.message_with_text("stored, answer lost")).to_have_count(1)
    expect(alice.page.locator("#banner")).to_be_hidden()

    alice.say("lost on the way")
    expect(alice.message_with_text("lost on the way")).to_have_count(1)
    expect(bob.message_with_text("lost on the way")).to_have_count(1)
    assert cut == set()

    alice.say("and after that")
    expect(bob.message_with_text("and after that")).to_have_count(1)
    for person in (alice, bob):
        expect(person.messages()).to_have_count(3)


def test_reconnecting_catches_up_page_after_page(
    people: Callable[..., Person], unique: Callable[[str], str]
) -> None:
    """More messages were missed than one `choice` with `After` answers with (100):
    the page asks again from the last id while a page is full, and misses nothing."""
    alice, bob = people(), people()
    alice.register(unique("alice"))
    bob.register(unique("bob"))
    room = unique("catchup")
    alice.create_chat(room)
    alice.say("before")
    bob.enter_chat(room)
    expect(bob.message_with_text("before")).to_have_count(1)  # bob has an id to resume from
    bob.page.context.set_offline(True)
    bob.cut_connection()
    expect(bob.page.locator("#banner")).to_be_visible()
    alice.page.evaluate(SEED_HISTORY, [room, "missed", 130])
    expect(alice.message_with_text("missed 130")).to_have_count(1)

    bob.page.context.set_offline(False)
    expect(bob.page.locator("#banner")).to_be_hidden()
    expect(bob.message_with_text("missed 130")).to_have_count(1)
    texts = bob.page.locator("#message-list .msg-text").all_text_contents()
    assert texts == ["before", *(f"missed {i}" for i in range(1, 131))]


def test_pending_messages_are_confirmed_by_nonce_not_by_text(
    people: Callable[..., Person], unique: Callable[[str], str]
) -> None:
    """The same words from the same user in another tab do not confirm a message this
    tab is still waiting for: only its own nonce, echoed by the server, does."""
    alice, other_tab, bob = people(), people(), people()
    a = unique("alice")
    alice.register(a)
    other_tab.log_in(a)
    bob.register(unique("bob"))
    room = unique("nonces")
    alice.create_chat(room)
    other_tab.enter_chat(room)
    bob.enter_chat(room)

    # alice's "same words" is lost on the way, and the socket stays up.
    def route(ws: Any) -> None:
        server = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            request = json.loads(message)
            if request.get("Text") == "same words" and lost:
                sent.append(request)
                lost.clear()
            else:
                server.send(message)

        ws.on_message(from_page)

    lost, sent = [True], []
    alice.page.route_web_socket(re.compile(r"/ws$"), route)
    alice.page.reload()
    expect(alice.page.locator("#chat-name")).to_have_text(room)
    alice.say("same words")
    expect(alice.page.locator("#text-input")).to_have_value("")
    for _ in range(150):  # the route sees the request a moment later
        if sent:
            break
        alice.page.wait_for_timeout(100)
    assert len(sent) == 1
    assert re.fullmatch(r"[0-9a-f]{24}", sent[0]["Nonce"])

    other_tab.say("same words")  # the other tab's nonce: nothing of alice's is confirmed
    expect(alice.message_with_text("same words")).to_have_count(1)
    expect(bob.message_with_text("same words")).to_have_count(1)

    # On reconnecting, alice's page sends what is still unconfirmed, with its nonce.
    alice.cut_connection()
    for person in (alice, other_tab, bob):
        expect(person.message_with_text("same words")).to_have_count(2)
    alice.say("and then")
    expect(bob.message_with_text("and then")).to_have_count(1)
    for person in (alice, other_tab, bob):
        expect(person.messages()).to_have_count(3)


def test_limits_are_read_from_the_server(
    browser: Any, tmp_path: Any, unique: Callable[[str], str]
) -> None:
    """A server that takes images of at most 100 KB: the page refuses a bigger one
    before sending it, with the server's number, and sizes its fields to the server."""
    server = ServerProcess(tmp_path / "data", "--max-image-bytes", "102400").start()
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        context.set_default_timeout(15_000)
        alice = Person(context.new_page(), server.http).open()
        alice.register(unique("alice"))
        alice.create_chat(unique("small"))
        picture = b"\x89PNG\r\n\x1a\n" + bytes(200 * 1024)
        alice.page.set_input_files(
            "#file-input", files=[{"name": "big.png", "mimeType": "image/png", "buffer": picture}]
        )
        expect(alice.page.locator("#composer-error")).to_have_text(
            "This image is too large (201 KB). Images can be at most 100 KB.")
        expect(alice.page.locator("#attachment")).to_be_hidden()
        # under the limit: attached (and the server's own check still applies on sending)
        alice.page.set_input_files(
            "#file-input",
            files=[{"name": "ok.png", "mimeType": "image/png", "buffer": picture[:90 * 1024]}])
        expect(alice.page.locator("#attachment")).to_be_visible()
        expect(alice.page.locator("#composer-error")).to_be_hidden()
        assert alice.page.locator("#text-input").get_attribute("maxlength") == "4000"
        assert alice.errors == []
    finally:
        context.close()
        server.stop()
