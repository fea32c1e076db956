"""Direct chats end to end, on SQLite and PostgreSQL: ``direct`` over a real socket, and
images of direct and closed chats served to members only (``Authorization: Bearer`` or
the ``parley_token`` cookie), 404 to anyone else."""

from __future__ import annotations

from urllib.parse import quote

import aiohttp

from conftest import Connect, ServerProcess, user
from images_data import PNG, b64, md5


async def get(server: ServerProcess, path: str, *, bearer: str | None = None,
              cookie: str | None = None) -> tuple[int, dict[str, str], bytes]:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    cookies = {"parley_token": cookie} if cookie else {}
    async with aiohttp.ClientSession(cookies=cookies) as http, \
            http.get(server.http + path, headers=headers) as response:
        return response.status, dict(response.headers), await response.read()


async def test_direct_and_its_images(connect: Connect, server: ServerProcess) -> None:
    a = await user(connect)
    b = await user(connect)
    eve = await user(connect)
    name = "@" + ",".join(sorted([a.user, b.user], key=str.casefold))
    answer = await a.request({"Type": "chat", "Command": "direct", "With": [b.user.upper()]})
    assert answer == {"Type": "chat", "Command": "direct", "Status": "success", "Chat": name,
                      "Messages": [], "Change": 0}
    entry = {"name": name, "closed": True, "owner": None, "direct": True,
             "members": sorted([a.user, b.user], key=str.casefold)}
    listing = await b.until(lambda f: f.get("Command") == "list")
    assert entry in listing["Chats"]
    await a.say(image=b64(PNG))
    message = await a.until(lambda f: f.get("Command") == "message")
    url = message["Message"]["image"]
    assert url == f"/images/{quote(name, safe='')}/{md5(PNG)}.png"
    assert "%40" in url
    assert "%2C" in url
    for token in (a.token, b.token):
        for how in ({"bearer": token}, {"cookie": token}):
            status, headers, body = await get(server, url, **how)
            assert (status, body) == (200, PNG), how
            assert headers["Cache-Control"] == "private, max-age=3600"
    missing = await get(server, f"/images/{quote(name, safe='')}/{md5(b'x')}.png",
                        bearer=a.token)
    for how in ({}, {"bearer": eve.token}, {"cookie": eve.token}, {"bearer": "nonsense"},
                {"cookie": "nonsense"}):
        status, headers, body = await get(server, url, **how)
        assert (status, body) == (missing[0], missing[2]) == (404, missing[2]), how
    # the non-member can choose nothing of it
    assert await eve.choose(name) == {"Type": "chat", "Status": "access denied"}
    assert entry not in (await eve.request({"Type": "chat", "Command": "list"}))["Chats"]


async def test_images_of_closed_chats_are_for_members(connect: Connect,
                                                      server: ServerProcess) -> None:
    owner = await user(connect)
    name = f"closed-{owner.user}"
    await owner.create(name, "sesame street")
    await owner.say(image=b64(PNG))
    url = (await owner.until(lambda f: f.get("Command") == "message"))["Message"]["image"]
    outsider = await user(connect)
    assert (await get(server, url, bearer=owner.token))[0] == 200
    assert (await get(server, url, cookie=owner.token))[0] == 200
    assert (await get(server, url))[0] == 404
    assert (await get(server, url, bearer=outsider.token))[0] == 404
    # open chats stay public (a chat of this test's own: the shared server's general
    # must hold no image, see test_http.test_image_paths_that_do_not_exist)
    await owner.create(f"open-{owner.user}")
    await owner.say(image=b64(PNG))
    url = (await owner.until(lambda f: f.get("Command") == "message"
                             and "image" in f["Message"]))["Message"]["image"]
    status, headers, _ = await get(server, url)
    assert status == 200
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
