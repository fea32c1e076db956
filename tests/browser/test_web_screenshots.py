"""A short, realistic conversation on a fresh server, photographed for the README.

The pictures always go to artifacts/screenshots/. With PARLEY_UPDATE_SCREENSHOTS=1 they
are also copied over the committed ones in docs/screenshots/.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Callable

import pytest

from parley.testing import ServerProcess

from .browser_support import DOC_SCREENSHOTS, Person, expect


def lake_picture() -> bytes:
    """A small landscape: sky, sun, hills and a lake."""
    from PIL import Image, ImageDraw

    width, height = 480, 300
    picture = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(picture)
    for y in range(height):
        shade = y / height
        draw.line([(0, y), (width, y)], fill=(int(120 + 100 * shade), int(170 + 60 * shade), 235))
    draw.ellipse((340, 40, 400, 100), fill=(255, 214, 102))
    draw.polygon(
        [(0, 210), (110, 120), (210, 190), (300, 110), (480, 200), (480, 300), (0, 300)],
        fill=(76, 130, 90),
    )
    draw.rectangle((0, 230, width, height), fill=(58, 120, 170))
    for x in range(20, width, 60):
        draw.line([(x, 250), (x + 30, 250)], fill=(150, 200, 230), width=2)
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=85)
    return out.getvalue()


@pytest.mark.slow
def test_readme_screenshots(people: Callable[..., Person], own_server: ServerProcess) -> None:
    url = own_server.start().http
    alice = people(url=url)
    bob = people(url=url, viewport={"width": 390, "height": 844})
    alice.register("alice")
    bob.register("bob")
    alice.create_chat("weekend-trip")
    alice.create_chat("book-club", password="chapter one")
    alice.enter_chat("weekend-trip")
    bob.enter_chat("weekend-trip")

    alice.say("Who's in for the lake on Saturday?")
    expect(bob.message_with_text("Who's in for the lake on Saturday?")).to_have_count(1)
    bob.say("Me! Leaving around 9?")
    expect(alice.message_with_text("Me! Leaving around 9?")).to_have_count(1)
    alice.page.set_input_files(
        "#file-input",
        files=[{"name": "lake.jpg", "mimeType": "image/jpeg", "buffer": lake_picture()}],
    )
    alice.say("The view from last time")
    photo = bob.message_with_text("The view from last time").locator("img")
    expect(photo).to_be_visible()
    bob.page.wait_for_function(
        "(img) => img.complete && img.naturalWidth === 480", arg=photo.element_handle()
    )
    bob.say("Wow. The trail map: https://www.openstreetmap.org/")
    expect(alice.page.locator("#message-list a")).to_have_text("https://www.openstreetmap.org/")
    alice.say("9 works. I'll bring snacks.")
    expect(bob.message_with_text("9 works. I'll bring snacks.")).to_have_count(1)
    for person in (alice, bob):
        person.page.wait_for_function("() => [...document.images].every((img) => img.complete)")
        person.page.locator("#messages").evaluate(
            "(node) => { node.scrollTop = node.scrollHeight; }"
        )
    expect(alice.page.locator("#online-list li")).to_have_text(["alice", "bob"])

    shots = {
        "chat-desktop": alice.screenshot("readme-chat-desktop"),
        "chat-mobile": bob.screenshot("readme-chat-mobile"),
    }
    if os.environ.get("PARLEY_UPDATE_SCREENSHOTS"):
        DOC_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for name, path in shots.items():
            shutil.copyfile(path, DOC_SCREENSHOTS / f"{name}.png")
