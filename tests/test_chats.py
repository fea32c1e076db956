"""Chats over real sockets: list, create, choice, earlier, connected, delete."""

from __future__ import annotations

import aiohttp

from conftest import PASSWORD, Connect, ServerProcess, joined, left, room, unique, user
from images_data import PNG, b64, md5

ANON = "error in chat or user"


async def test_every_chat_command_needs_a_login(connect: Connect) -> None:
    anonymous = await connect()
    for command, extra in (("list", {}), ("create", {"Chat": unique()}),
                           ("choice", {"Chat": "general"}), ("earlier", {}),
                           ("connected", {}), ("delete", {"Chat": "general"}),
                           ("leave", {"Chat": "general"}), ("message", {"Text": "x"})):
        assert await anonymous.request({"Type": "chat", "Command": command, **extra}) == {
            "Type": "chat", "Command": command, "Status": ANON}


async def test_list_on_a_fresh_server(fresh_server: ServerProcess, connect: Connect) -> None:
    client = await user(connect, fresh_server.ws)
    assert await client.request({"Type": "chat", "Command": "list"}) == {
        "Type": "chat", "Command": "list",
        "Chats": [{"name": "general", "closed": False, "owner": None}]}


async def test_create_pushes_the_list_to_every_logged_in_socket(
    fresh_server: ServerProcess, connect: Connect
) -> None:
    owner = await user(connect, fresh_server.ws, "owner")
    other = await user(connect, fresh_server.ws, "other")
    anonymous = await connect(fresh_server.ws)
    assert await owner.create("closed one", password="secret pw") == {
        "Type": "chat", "Command": "create", "Status": "success", "Chat": "closed one"}
    expected = {"Type": "chat", "Command": "list", "Chats": [
        {"name": "general", "closed": False, "owner": None},
        {"name": "closed one", "closed": True, "owner": "owner"}]}
    assert await owner.recv() == expected
    assert await owner.recv() == joined("closed one", "owner")  # the creator is in it now
    assert await other.recv() == expected
    assert await anonymous.silent()
    # the creator has chosen it: a message goes there
    await owner.say("first")
    assert (await owner.recv())["Message"]["text"] == "first"
    assert await other.silent()


async def test_create_failures(connect: Connect) -> None:
    owner = await user(connect)
    name = unique("room")
    assert (await owner.create(name))["Status"] == "success"
    await owner.recv()
    await owner.recv()
    assert await owner.create(name) == {
        "Type": "chat", "Command": "create", "Status": "chat exist"}
    assert await owner.create("general") == {
        "Type": "chat", "Command": "create", "Status": "chat exist"}
    for bad, detail in (("", "Chat name is required"),
                        ("x" * 65, "Chat name must be at most 64 characters"),
                        (".", "Chat name cannot be '.' or '..'"),
                        ("..", "Chat name cannot be '.' or '..'"),
                        ("a/b", "Chat name cannot contain '/' or '\\'"),
                        ("a\\b", "Chat name cannot contain '/' or '\\'"),
                        ("tab\there", "Chat name cannot contain control characters")):
        assert await owner.create(bad) == {
            "Type": "chat", "Command": "create", "Status": "error", "Detail": detail}
    assert await owner.request({"Type": "chat", "Command": "create"}) == {
        "Type": "chat", "Command": "create", "Status": "error",
        "Detail": "Chat name is required"}
    assert await owner.silent()


async def test_odd_but_valid_names_work_end_to_end(connect: Connect,
                                                   server: ServerProcess) -> None:
    owner = await user(connect)
    cyrillic = "Комната " + unique("").replace("x", "-")  # new names are of one script
    for name in (cyrillic, unique("🎉 party #") + "?&%", unique("...")):
        assert (await owner.create(name))["Status"] == "success"
        assert (await owner.recv())["Command"] == "list"
        assert await owner.recv() == joined(name, owner.user)
        await owner.say(image=b64(PNG))
        url = (await owner.recv())["Message"]["image"]
        async with aiohttp.ClientSession() as http, http.get(server.http + url) as response:
            assert response.status == 200, (name, url)
            assert await response.read() == PNG
        assert url.endswith(f"/{md5(PNG)}.png")


async def test_choice_of_a_missing_chat(connect: Connect) -> None:
    client = await user(connect)
    for request in ({"Chat": unique("nope")}, {}, {"Chat": ""}):
        assert await client.request({"Type": "chat", "Command": "choice", **request}) == {
            "Type": "chat", "Status": "error"}


async def test_closed_chat_needs_the_password_once(connect: Connect) -> None:
    name, (owner,) = await room(connect, 1, password="open sesame")
    guest = await user(connect)
    denied = {"Type": "chat", "Status": "access denied"}
    assert await guest.choose(name) == denied
    assert await guest.choose(name, password="wrong one") == denied
    assert await owner.silent()
    answer = await guest.choose(name, password="open sesame")
    assert answer == {"Type": "chat", "Command": "choice", "Chat": name, "Messages": [],
                      "Change": 0}
    assert await guest.recv() == joined(name, guest.user)
    assert await owner.recv() == joined(name, guest.user)
    # a member now: no password needed from another socket, even after leaving
    assert (await guest.choose("general"))["Chat"] == "general"
    assert await owner.recv() == left(name, guest.user)
    again = await connect()
    assert (await again.login(guest.user, PASSWORD))["Status"] == "success"
    assert (await again.choose(name))["Command"] == "choice"
    # the owner never needs it
    owner_tab = await connect()
    assert (await owner_tab.login(owner.user, PASSWORD))["Status"] == "success"
    assert (await owner_tab.choose(name))["Command"] == "choice"


async def test_history_pages(connect: Connect) -> None:
    name, (a,) = await room(connect, 1)
    for i in range(1, 66):
        await a.say(f"m{i}")
        assert (await a.recv())["Message"]["id"] == i
    reader = await user(connect)
    page = await reader.choose(name)
    assert [m["text"] for m in page["Messages"]] == [f"m{i}" for i in range(36, 66)]
    assert await a.recv() == joined(name, reader.user)
    assert await reader.recv() == joined(name, reader.user)
    first = await reader.request({"Type": "chat", "Command": "earlier"})
    assert first["Command"] == "earlier"
    assert first["Chat"] == name
    assert [m["id"] for m in first["Messages"]] == list(range(6, 36))
    second = await reader.request({"Type": "chat", "Command": "earlier"})
    assert [m["id"] for m in second["Messages"]] == list(range(1, 6))
    assert (await reader.request({"Type": "chat", "Command": "earlier"}))["Messages"] == []
    by_id = await reader.request({"Type": "chat", "Command": "earlier", "Before": 10})
    assert [m["id"] for m in by_id["Messages"]] == list(range(1, 10))
    resumed = await reader.choose(name, after=60)
    assert [m["id"] for m in resumed["Messages"]] == [61, 62, 63, 64, 65]
    assert (await reader.choose(name, after=65))["Messages"] == []
    assert await reader.silent()  # choosing the chat it is in again pushes nothing


async def test_earlier_on_an_empty_chat_and_without_a_chat(connect: Connect) -> None:
    name, (a,) = await room(connect, 1)
    assert await a.request({"Type": "chat", "Command": "earlier"}) == {
        "Type": "chat", "Command": "earlier", "Chat": name, "Messages": []}
    await a.say("live")
    await a.recv()
    # the live message came after choosing: earlier pages back from before it
    assert (await a.request({"Type": "chat", "Command": "earlier"}))["Messages"] == []
    lonely = await user(connect)
    for command in ("earlier", "connected"):
        assert await lonely.request({"Type": "chat", "Command": command}) == {
            "Type": "chat", "Command": command, "Status": ANON}


async def test_connected_and_its_deltas(connect: Connect) -> None:
    name, (a, b) = await room(connect, 2)
    logins = sorted([a.user, b.user])
    assert await a.request({"Type": "chat", "Command": "connected"}) == {
        "Type": "chat", "Command": "connected", "Chat": name, "Online": logins}
    # a second socket of b: no delta; closing one of two: no delta either
    b2 = await connect()
    await b2.login(b.user, PASSWORD)
    await b2.choose(name)
    assert await a.silent()
    await b2.close()
    assert await a.silent()
    assert (await a.request({"Type": "chat", "Command": "connected"}))["Online"] == logins
    # b's last socket goes: Left
    await b.close()
    assert await a.recv() == left(name, b.user)
    assert await a.request({"Type": "chat", "Command": "connected"}) == {
        "Type": "chat", "Command": "connected", "Chat": name, "Online": [a.user]}


async def test_delete_by_the_owner(connect: Connect, server: ServerProcess) -> None:
    name, (owner, member) = await room(connect, 2)
    await owner.say(image=b64(PNG))
    url = (await owner.recv())["Message"]["image"]
    await member.recv()
    bystander = await user(connect)
    assert await owner.request({"Type": "chat", "Command": "delete"}) == {
        "Type": "chat", "Command": "delete", "Status": "success", "Chat": name}
    listing = await owner.recv()
    assert listing["Command"] == "list"
    assert name not in [c["name"] for c in listing["Chats"]]
    assert await member.recv() == {
        "Type": "chat", "Command": "delete", "Chat": name, "Status": "deleted"}
    assert await member.recv() == listing
    assert await bystander.recv() == listing
    assert await member.request({"Type": "chat", "Command": "message", "Text": "x"}) == {
        "Type": "chat", "Status": "error"}
    assert await owner.request({"Type": "chat", "Command": "message", "Text": "x"}) == {
        "Type": "chat", "Command": "message", "Status": ANON}
    assert await member.choose(name) == {"Type": "chat", "Status": "error"}
    async with aiohttp.ClientSession() as http, http.get(server.http + url) as response:
        assert response.status == 404
    # the name is free again, and the new chat has none of the old messages
    assert (await member.create(name))["Status"] == "success"
    assert (await member.recv())["Command"] == "list"
    assert (await member.recv())["Joined"] == member.user
    assert (await owner.recv())["Command"] == "list"
    assert (await member.choose(name))["Messages"] == []


async def test_delete_refusals(connect: Connect) -> None:
    name, (owner, member) = await room(connect, 2)
    refused = {"Type": "chat", "Command": "delete", "Status": "error"}
    assert await member.request({"Type": "chat", "Command": "delete"}) == refused
    assert await member.request({"Type": "chat", "Command": "delete", "Chat": name}) == refused
    assert await owner.request(
        {"Type": "chat", "Command": "delete", "Chat": "general"}) == refused
    assert await owner.request(
        {"Type": "chat", "Command": "delete", "Chat": unique("none")}) == refused
    assert await owner.silent()
    lonely = await user(connect)
    assert await lonely.request({"Type": "chat", "Command": "delete"}) == {
        "Type": "chat", "Command": "delete", "Status": ANON}
    # the owner can delete by name from anywhere
    outside = await connect()
    await outside.login(owner.user, PASSWORD)
    assert await outside.request({"Type": "chat", "Command": "delete", "Chat": name}) == {
        "Type": "chat", "Command": "delete", "Status": "success", "Chat": name}


async def test_leave_with_two_sockets(connect: Connect) -> None:
    name, (owner, guest) = await room(connect, 2, password="open sesame")
    tab = await connect()
    assert (await tab.login(guest.user, PASSWORD))["Status"] == "success"
    assert (await tab.choose(name))["Command"] == "choice"  # a member: no password
    assert await owner.silent()
    assert await guest.request({"Type": "chat", "Command": "leave", "Chat": name}) == {
        "Type": "chat", "Command": "leave", "Status": "success", "Chat": name}
    # the other socket had the chat chosen: it is out of it, and told so
    assert await tab.recv() == {"Type": "chat", "Command": "leave", "Status": "left",
                                "Chat": name}
    assert await owner.recv() == left(name, guest.user)
    for client in (guest, tab):
        assert await client.request({"Type": "chat", "Command": "message", "Text": "x"}) == {
            "Type": "chat", "Command": "message", "Status": ANON}
    # no longer a member: the password again
    assert await tab.choose(name) == {"Type": "chat", "Status": "access denied"}
    assert (await tab.choose(name, password="open sesame"))["Command"] == "choice"
    assert await tab.recv() == joined(name, guest.user)
    assert await owner.recv() == joined(name, guest.user)
    # not in it, not a member: still success; no such chat: the seed's error
    assert await owner.request({"Type": "chat", "Command": "leave", "Chat": "general"}) == {
        "Type": "chat", "Command": "leave", "Status": "success", "Chat": "general"}
    assert await owner.request({"Type": "chat", "Command": "leave", "Chat": unique()}) == {
        "Type": "chat", "Status": "error"}
