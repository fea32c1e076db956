"""Two people chatting in the web client: the whole path a real conversation takes."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable
from typing import Any

from .browser_support import PASSWORD, Person, expect

MINE = re.compile(r"\bmine\b")


def image_bytes(fmt: str, color: str, size: tuple[int, int]) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format=fmt)
    return out.getvalue()


def give_file(person: Person, how: str, name: str, mime: str, data: bytes) -> None:
    """Hand a file to the composer by drag-and-drop or by pasting it."""
    payload = [name, mime, base64.b64encode(data).decode()]
    make = """([name, mime, b64]) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], name, {type: mime}));
        return dt;
    }"""
    transfer = person.page.evaluate_handle(make, payload)
    if how == "drop":
        person.page.dispatch_event("#messages", "dragenter", {"dataTransfer": transfer})
        expect(person.page.locator("#drop-hint")).to_be_visible()
        person.page.dispatch_event("#messages", "dragover", {"dataTransfer": transfer})
        person.page.dispatch_event("#messages", "drop", {"dataTransfer": transfer})
        expect(person.page.locator("#drop-hint")).to_be_hidden()
    else:
        person.page.evaluate(
            """(dt) => document.querySelector("#text-input").dispatchEvent(new ClipboardEvent(
                "paste", {clipboardData: dt, bubbles: true, cancelable: true}))""",
            transfer,
        )


def wait_image_loaded(person: Person, img: Any, width: int) -> None:
    """The <img> really shows the picture (decoded, of the expected width)."""
    expect(img).to_be_visible()
    person.page.wait_for_function(
        "([img, width]) => img.complete && img.naturalWidth === width",
        arg=[img.element_handle(), width],
    )


def online_names(person: Person) -> Any:
    return person.page.locator("#online-list li")


def test_two_people_in_a_closed_chat(
    people: Callable[..., Person], unique: Callable[[str], str]
) -> None:
    alice, bob = people(), people()
    a, b = unique("alice"), unique("bob")
    room = unique("secret")
    expect(alice.page.locator("#auth-form")).to_be_visible()
    alice.screenshot("login")

    alice.register(a)
    bob.register(b)
    expect(bob.chat_button("general")).to_be_visible()

    # Alice opens a closed chat; it appears at once in Bob's list, marked closed.
    alice.create_chat(room, password="open sesame")
    expect(bob.chat_button(room)).to_be_visible()
    expect(bob.chat_button(room).locator(".chat-lock")).to_be_visible()
    expect(alice.chat_button(room).locator(".chat-owner")).to_have_text("owner")
    expect(bob.chat_button(room).locator(".chat-owner")).to_have_count(0)

    # Bob is asked for the password; a wrong one is explained, the right one lets him in.
    bob.chat_button(room).click()
    dialog = bob.page.locator("#password-dialog")
    expect(dialog).to_be_visible()
    expect(bob.page.locator("#password-title")).to_have_text(f"“{room}” is closed")
    bob.page.fill("#password-input", "guess guess")
    bob.page.get_by_role("button", name="Join").click()
    expect(bob.page.locator("#password-error")).to_have_text("Wrong password. Please try again.")
    bob.screenshot("closed-chat-password")
    expect(bob.page.locator("#chat-name")).to_have_text("general")
    bob.page.fill("#password-input", "open sesame")
    bob.page.get_by_role("button", name="Join").click()
    expect(dialog).to_be_hidden()
    expect(bob.page.locator("#chat-name")).to_have_text(room)
    expect(bob.page.locator("#delete-chat")).to_be_hidden()
    expect(alice.page.locator("#delete-chat")).to_be_visible()

    # Each sees the other online.
    both = sorted([a, b])
    expect(online_names(alice)).to_have_text(both)
    expect(online_names(bob)).to_have_text(both)
    expect(alice.page.locator("#online-toggle")).to_have_text("2 online")

    # Text both ways, with the author's name, a local time, and own messages told apart.
    alice.say("Hello Bob!")
    at_bob = bob.message_with_text("Hello Bob!")
    expect(at_bob.locator(".msg-user")).to_have_text(a)
    expect(at_bob).not_to_have_class(MINE)
    expect(alice.message_with_text("Hello Bob!")).to_have_class(MINE)
    expect(at_bob.locator("time")).to_have_text(re.compile(r"\d{1,2}[:.]\d{2}"))
    bob.say("Hi Alice, line one")
    at_alice = alice.message_with_text("Hi Alice, line one")
    expect(at_alice.locator(".msg-user")).to_have_text(b)
    expect(bob.message_with_text("Hi Alice, line one")).to_have_class(MINE)
    expect(alice.page.locator("#text-input")).to_have_value("")

    # Alice attaches an image with the picker, sees a preview, and sends it with a caption.
    red = image_bytes("PNG", "red", (64, 48))
    alice.page.set_input_files(
        "#file-input", files=[{"name": "red.png", "mimeType": "image/png", "buffer": red}]
    )
    expect(alice.page.locator("#attachment")).to_be_visible()
    expect(alice.page.locator("#attachment-name")).to_contain_text("red.png")
    wait_image_loaded(alice, alice.page.locator("#attachment-img"), 64)
    alice.say("a red square")
    expect(alice.page.locator("#attachment")).to_be_hidden()
    red_at_bob = bob.message_with_text("a red square").locator("img.msg-image")
    expect(red_at_bob).to_have_attribute("src", re.compile(r"^/images/.+/[0-9a-f]{32}\.png$"))
    wait_image_loaded(bob, red_at_bob, 64)
    wait_image_loaded(alice, alice.message_with_text("a red square").locator("img.msg-image"), 64)

    # Bob drops an image on the chat and sends it without text.
    blue = image_bytes("JPEG", "blue", (40, 30))
    give_file(bob, "drop", "blue.jpg", "image/jpeg", blue)
    expect(bob.page.locator("#attachment-name")).to_contain_text("blue.jpg")
    bob.page.get_by_role("button", name="Send").click()
    last_at_alice = alice.messages().last
    expect(last_at_alice.locator(".msg-user")).to_have_text(b)
    expect(last_at_alice.locator(".msg-text")).to_have_count(0)
    wait_image_loaded(alice, last_at_alice.locator("img.msg-image"), 40)

    # Alice pastes an image.
    green = image_bytes("PNG", "green", (24, 24))
    give_file(alice, "paste", "image.png", "image/png", green)
    expect(alice.page.locator("#attachment")).to_be_visible()
    alice.say("pasted")
    wait_image_loaded(bob, bob.message_with_text("pasted").locator("img.msg-image"), 24)

    # A click opens an image full size; Escape closes it.
    red_at_bob.click()
    lightbox = bob.page.locator("#lightbox")
    expect(lightbox).to_be_visible()
    wait_image_loaded(bob, bob.page.locator("#lightbox-img"), 64)
    red_src = red_at_bob.get_attribute("src")
    expect(bob.page.locator("#lightbox-link")).to_have_attribute("href", red_src or "?")
    bob.screenshot("image-full-size")
    bob.page.keyboard.press("Escape")
    expect(lightbox).to_be_hidden()

    alice.page.locator("#text-input").fill("Typing a reply…")
    alice.screenshot("chat-desktop")
    alice.page.locator("#text-input").fill("")

    # A file that claims to be a PNG but is not one: the server refuses, the page says why.
    shown = bob.messages().count()
    alice.page.set_input_files(
        "#file-input",
        files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"this is not an image"}],
    )
    alice.say("see attached")
    error = alice.page.locator("#composer-error")
    expect(error).to_have_text(
        "The server refused the attachment: it is not an image it accepts "
        "(PNG, JPEG, GIF or WebP), or it is too large. Nothing was sent."
    )
    expect(alice.page.locator("#text-input")).to_have_value("see attached")
    alice.page.locator("#attachment-remove").click()
    alice.page.locator("#text-input").fill("")
    # A plain text file is refused before anything is sent.
    alice.page.set_input_files(
        "#file-input", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}]
    )
    expect(error).to_have_text(
        "“notes.txt” is not an image that can be sent. Use PNG, JPEG, GIF or WebP."
    )
    expect(alice.page.locator("#attachment")).to_be_hidden()
    alice.say("after the refusals")
    expect(bob.message_with_text("after the refusals")).to_have_count(1)
    expect(bob.messages()).to_have_count(shown + 1)
    expect(error).to_be_hidden()

    # A reload keeps Alice logged in, in the same chat, with the history.
    alice.page.reload()
    expect(alice.page.locator("#me-name")).to_have_text(a)
    expect(alice.page.locator("#chat-name")).to_have_text(room)
    expect(alice.message_with_text("Hi Alice, line one")).to_have_count(1)
    expect(alice.messages()).to_have_count(shown + 1)
    expect(alice.page.locator("#auth-form")).to_be_hidden()

    # Bob loses the network. The page says so, and nothing typed is lost.
    bob.page.context.set_offline(True)
    bob.cut_connection()
    banner = bob.page.locator("#banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("offline")
    expect(online_names(alice)).to_have_text([a])
    bob.say("written while offline")
    expect(bob.page.locator("#composer-error")).to_have_text(
        "Not connected right now. Your message is kept and will be sent as soon as the "
        "connection is back."
    )
    expect(bob.page.locator("#unsent-list .msg-text")).to_have_text(["written while offline"])
    bob.screenshot("offline")

    # Alice goes on talking meanwhile.
    alice.say("missed one")
    alice.say("missed two")
    expect(alice.message_with_text("missed two")).to_have_count(1)

    # Back online: Bob reconnects, logs in by token, re-enters the chat,
    # and gets exactly what he missed.
    bob.page.context.set_offline(False)
    expect(banner).to_be_hidden()
    expect(bob.message_with_text("missed one")).to_have_count(1)
    expect(bob.message_with_text("missed two")).to_have_count(1)
    expect(online_names(alice)).to_have_text(both)
    expect(online_names(bob)).to_have_text(both)
    # What Bob wrote offline goes out by itself; the stale notice is gone.
    expect(alice.message_with_text("written while offline")).to_have_count(1)
    expect(bob.page.locator("#composer-error")).to_be_hidden()
    expect(bob.message_with_text("written while offline")).to_have_count(1)
    expect(bob.messages()).to_have_count(shown + 4)
    ids_at_bob = bob.messages().evaluate_all("(nodes) => nodes.map((n) => Number(n.dataset.id))")
    ids_at_alice = alice.messages().evaluate_all(
        "(nodes) => nodes.map((n) => Number(n.dataset.id))"
    )
    assert ids_at_bob == ids_at_alice == sorted(set(ids_at_bob))

    # A dropped socket without going offline: the page reconnects by itself.
    bob.cut_connection()
    bob.page.wait_for_function(
        "() => window.__sockets.filter((s) => s.readyState === 1).length === 1"
    )
    expect(banner).to_be_hidden()
    bob.say("after a dropped socket")
    expect(alice.message_with_text("after a dropped socket")).to_have_count(1)
    expect(bob.message_with_text("after a dropped socket")).to_have_count(1)


def test_sign_up_log_in_and_out(
    people: Callable[..., Person], unique: Callable[[str], str]
) -> None:
    first, second = people(), people()
    name = unique("carol")
    first.register(name)

    # The same name cannot be taken twice, whatever its case.
    page = second.page
    page.get_by_role("tab", name="Sign up").click()
    page.fill("#auth-login", name.upper())
    page.fill("#auth-password", PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#auth-error")).to_have_text(
        "That name is already taken. Please choose another one."
    )

    # A too-short password is explained before asking the server.
    page.fill("#auth-login", unique("dave"))
    page.fill("#auth-password", "short")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#auth-error")).to_have_text(
        "The password must be at least 8 characters long."
    )

    # A name the server refuses: its reason is shown.
    page.fill("#auth-login", "no spaces allowed")
    page.fill("#auth-password", PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#auth-error")).to_have_text(
        re.compile(r"^Could not sign up: the name or password is not allowed\.")
    )

    # Wrong password on log in.
    page.get_by_role("tab", name="Log in").click()
    page.fill("#auth-login", name)
    page.fill("#auth-password", "not the password")
    page.locator("#auth-submit").click()
    expect(page.locator("#auth-error")).to_have_text("Wrong name or password.")
    second.log_in(name)

    # Logging out forgets the session, also after a reload.
    page.get_by_role("button", name="Log out").click()
    expect(page.locator("#auth-form")).to_be_visible()
    page.reload()
    expect(page.locator("#auth-form")).to_be_visible()
    assert page.evaluate("() => localStorage.getItem('parley.token')") is None

    # The other browser is still logged in after a reload.
    first.page.reload()
    expect(first.page.locator("#me-name")).to_have_text(name)


def test_tabs_share_the_session(
    people: Callable[..., Person], unique: Callable[[str], str]
) -> None:
    first = people()
    name = unique("erin")
    first.register(name)
    # A second tab of the same browser is logged in already.
    second = Person(first.page.context.new_page(), first.base_url).open()
    expect(second.page.locator("#me-name")).to_have_text(name)
    expect(second.page.locator("#chat-name")).to_have_text("general")
    second.say("from the second tab")
    expect(first.message_with_text("from the second tab")).to_have_class(MINE)

    # Logging out in one tab logs out the other.
    first.page.get_by_role("button", name="Log out").click()
    expect(second.page.locator("#auth-form")).to_be_visible()
    expect(second.page.locator("#auth-error")).to_have_text("You logged out in another tab.")
    expect(second.messages()).to_have_count(0)

    # Logging in in one tab logs in the other.
    second.log_in(name)
    expect(first.page.locator("#me-name")).to_have_text(name)
    expect(first.page.locator("#chat-name")).to_have_text("general")
    assert second.errors == []


def test_a_revoked_session_asks_to_log_in_again(
    people: Callable[..., Person], unique: Callable[[str], str]
) -> None:
    laptop, phone = people(), people()
    name = unique("frank")
    laptop.register(name)
    token = laptop.page.evaluate("() => localStorage.getItem('parley.token')")
    # The same session on another device, which then logs out: the token is revoked.
    phone.page.evaluate("(token) => localStorage.setItem('parley.token', token)", token)
    phone.page.reload()
    expect(phone.page.locator("#me-name")).to_have_text(name)
    phone.page.get_by_role("button", name="Log out").click()
    expect(phone.page.locator("#auth-form")).to_be_visible()

    # The laptop, on the same token, is told at once.
    expect(laptop.page.locator("#auth-form")).to_be_visible()
    expect(laptop.page.locator("#auth-error")).to_have_text(
        "Your session has ended. Please log in again."
    )
    laptop.log_in(name)
    expect(laptop.page.locator("#chat-name")).to_have_text("general")
