"""Editing, removing, reacting, replying: every row and every failure, exact JSON through
``Service.receive`` (see ``inprocess.py``), on SQLite and PostgreSQL, with what was
stored and what was not."""

from __future__ import annotations

from typing import Any

from changes_kit import member, msg, post, stored_rows, undated
from images_data import PNG, b64, md5
from inprocess import Frame, Parley, chat


def failed(command: str, status: str, detail: str | None = None) -> Frame:
    frame: Frame = {"Type": "chat", "Command": command, "Status": status}
    if detail is not None:
        frame["Detail"] = detail
    return frame


async def changes(parley: Parley, chat_name: str = "general") -> int:
    found = await stored_rows(parley, "SELECT last_change FROM chats WHERE name = :n",
                              n=chat_name)
    return int(found[0][0])


async def texts(parley: Parley) -> list[Any]:
    return await stored_rows(parley, "SELECT m.id, m.text, m.removed FROM messages m JOIN chats c "
                                     "ON c.id = m.chat_id WHERE c.name = 'general' ORDER BY m.id")


async def test_edit(served: Parley) -> None:
    alice, bob = await member(served, "alice"), await member(served, "bob")
    first = await post(served, alice, "helo")
    [frame] = await alice.request(chat("edit", Id=first, Text="hello"))
    edited = chat("edit", Chat="general", Change=1,
                  Message=msg(first, "alice", "hello", edited="DATE"))
    assert undated(frame) == edited
    assert undated(bob.take()) == [edited]
    # the page shows the new text and when it was edited
    [page] = await bob.request(chat("earlier", Before=10))
    assert undated(page["Messages"]) == [msg(first, "alice", "hello", edited="DATE")]
    assert page["Messages"][0]["edited"] == frame["Message"]["edited"]
    assert await texts(served) == [(1, "hello", False)]


async def test_edit_refused(served: Parley) -> None:
    alice, bob = await member(served, "alice"), await member(served, "bob")
    first = await post(served, alice, "mine")
    cases = [
        (bob, chat("edit", Id=first, Text="theirs"), failed("edit", "not allowed")),
        (alice, chat("edit", Id=99, Text="x"), failed("edit", "not found")),
        (alice, chat("edit", Text="x"), failed("edit", "error", "Id is required")),
        (alice, chat("edit", Id=first), failed(
            "edit", "error", "Text is required (empty only for a message with an image)")),
        (alice, chat("edit", Id=first, Text=""), failed(
            "edit", "error", "Text may be empty only for a message with an image")),
        (alice, chat("edit", Id=first, Text="x" * 4001), failed(
            "edit", "error", "Text must be at most 4000 characters")),
    ]
    for conn, request, answer in cases:
        assert await conn.request(request) == [answer], request
        assert alice.take() == bob.take() == []
    assert await texts(served) == [(1, "mine", False)]
    assert await changes(served) == 0
    stranger = await served.user("carol")  # logged in, no chat chosen
    assert await stranger.request(chat("edit", Id=first, Text="x")) == [
        failed("edit", "error in chat or user")]
    anonymous = served.connect()
    for command in ("edit", "remove", "react"):
        assert await anonymous.request(chat(command, Id=first)) == [
            failed(command, "error in chat or user")]


async def test_edit_image_message_to_no_text(served: Parley) -> None:
    alice = await member(served, "alice")
    first = await post(served, alice, "look", Image=b64(PNG))
    image = f"/images/general/{md5(PNG)}.png"
    assert undated(await alice.request(chat("edit", Id=first, Text=""))) == [
        chat("edit", Chat="general", Change=1,
             Message={"id": first, "user": "alice", "date": "DATE", "image": image,
                      "edited": "DATE"})]
    assert await texts(served) == [(1, None, False)]


async def test_remove_by_author_and_owner(served: Parley) -> None:
    owner = await served.user("olga")
    await owner.request(chat("create", Chat="room"))
    alice = await member(served, "alice", "room")
    bob = await member(served, "bob", "room")
    owner.take()
    one = await post(served, alice, "one @bob")
    two = await post(served, alice, "two")
    three = await post(served, bob, "three")
    assert await bob.request(chat("remove", Id=one)) == [failed("remove", "not allowed")]
    assert await alice.request(chat("remove", Id=one)) == [
        chat("remove", Chat="room", Change=1, Id=one)]
    assert bob.take() == owner.take() == [chat("remove", Chat="room", Change=1, Id=one)]
    # the chat's owner may remove anyone's
    assert await owner.request(chat("remove", Id=three)) == [
        chat("remove", Chat="room", Change=2, Id=three)]
    alice.take()
    bob.take()
    for conn, request in ((alice, chat("remove", Id=one)), (alice, chat("edit", Id=one, Text="x")),
                          (bob, chat("react", Id=one, Emoji="👍"))):
        assert await conn.request(request) == [failed(request["Command"], "not found")]
    assert await changes(served, "room") == 2
    # a tombstone in every history path
    tomb = {"id": one, "user": "alice", "date": "DATE", "removed": True}
    expected = [tomb, msg(two, "alice", "two"),
                {"id": three, "user": "bob", "date": "DATE", "removed": True}]
    [page] = await bob.request(chat("choice", Chat="room"))
    assert undated(page["Messages"]) == expected
    [page] = await bob.request(chat("choice", Chat="room", After=0))
    assert undated(page["Messages"]) == expected
    [page] = await bob.request(chat("earlier", Before=4))
    assert undated(page["Messages"]) == expected
    # its text is gone from the database, its mention too: bob has nothing unread of it
    assert await stored_rows(served, "SELECT id, text, image, removed FROM messages "
                                     "WHERE login = 'alice' ORDER BY id") == [
        (one, None, None, True), (two, "two", None, False)]
    assert await stored_rows(served, "SELECT count(*) FROM mentions") == [(0,)]
    [unread] = await bob.request(chat("unread"))
    assert unread["Chats"]["room"] == {"last": 3, "read": 0, "unread": 1, "mentions": 0}


async def test_remove_deletes_unused_image(served: Parley) -> None:
    alice = await member(served, "alice")
    name = f"{md5(PNG)}.png"
    first = await post(served, alice, Image=b64(PNG))
    second = await post(served, alice, "again", Image=b64(PNG))
    chat_id = (await stored_rows(served, "SELECT id FROM chats WHERE name = 'general'"))[0][0]
    path = served.service.ctx.settings.image_dir / str(chat_id) / name
    assert path.is_file()
    await alice.request(chat("remove", Id=first))
    await served.settle()
    assert path.is_file()  # the second message still shows it
    assert await stored_rows(served, "SELECT name FROM images") == [(name,)]
    await alice.request(chat("remove", Id=second))
    await served.settle()
    assert not path.exists()
    assert await stored_rows(served, "SELECT name FROM images") == []
    # sent again, it is stored again
    third = await post(served, alice, Image=b64(PNG))
    assert path.is_file()
    assert third == 3


async def test_react(served: Parley) -> None:
    alice, bob = await member(served, "alice"), await member(served, "bob")
    first = await post(served, alice, "vote")

    async def react(conn: Any, emoji: str, change: int, reactions: dict[str, list[str]]) -> None:
        frame = chat("react", Chat="general", Change=change, Id=first, Reactions=reactions)
        assert await conn.request(chat("react", Id=first, Emoji=emoji)) == [frame]
        assert (bob if conn is alice else alice).take() == [frame]

    await react(bob, "👍", 1, {"👍": ["bob"]})
    await react(alice, "🎉", 2, {"👍": ["bob"], "🎉": ["alice"]})
    await react(alice, "👍", 3, {"👍": ["bob", "alice"], "🎉": ["alice"]})
    await react(bob, "👍", 4, {"👍": ["alice"], "🎉": ["alice"]})  # a toggle
    await react(bob, "👍", 5, {"👍": ["alice", "bob"], "🎉": ["alice"]})
    await react(alice, "🎉", 6, {"👍": ["alice", "bob"]})
    [page] = await bob.request(chat("earlier", Before=10))
    assert undated(page["Messages"]) == [
        msg(first, "alice", "vote", reactions={"👍": ["alice", "bob"]})]


async def test_react_refused(served: Parley) -> None:
    alice = await member(served, "alice")
    first = await post(served, alice, "vote")
    letters = "Emoji may not hold letters, digits, whitespace or control characters"
    length = "Emoji must be 1 to 16 characters"
    for emoji, detail in (("a", letters), ("1", letters), ("👍 ", letters), ("\u0007", letters),
                          ("я", letters), ("", length), ("👍" * 17, length)):
        assert await alice.request(chat("react", Id=first, Emoji=emoji)) == [
            failed("react", "error", detail)], emoji
    assert await alice.request(chat("react", Id=first)) == [failed("react", "error", length)]
    assert await alice.request(chat("react", Id=7, Emoji="👍")) == [failed("react", "not found")]
    # modifiers and joiners are fine: 👍🏽, 👨‍👩‍👧, ❤️
    for change, emoji in enumerate(("👍🏽", "👨\u200d👩\u200d👧", "❤\ufe0f"), 1):
        [frame] = await alice.request(chat("react", Id=first, Emoji=emoji))
        assert frame["Change"] == change
    for n in range(17):
        [frame] = await alice.request(chat("react", Id=first, Emoji=chr(0x1F600 + n)))
        assert "Status" not in frame
    assert len(frame["Reactions"]) == 20
    assert await alice.request(chat("react", Id=first, Emoji="🚀")) == [
        failed("react", "error", "A message may carry at most 20 reactions")]
    # one already there may still be added to, or taken back
    [frame] = await alice.request(chat("react", Id=first, Emoji="👍🏽"))
    assert len(frame["Reactions"]) == 19
    assert frame["Change"] == 21
    assert await changes(served) == 21
    assert await stored_rows(served, "SELECT count(*) FROM reactions") == [(19,)]


async def test_reply(served: Parley) -> None:
    alice, bob = await member(served, "alice"), await member(served, "bob")
    first = await post(served, alice, "q" * 150)
    frames = undated(await bob.request(chat("message", Text="answer", Reply=first)))
    preview = {"id": first, "user": "alice", "text": "q" * 100}
    live = chat("message", Message=msg(2, "bob", "answer", reply=preview))
    assert frames == [live]
    assert undated(alice.take()) == [live]
    # the preview follows the original's current text, then its removal
    await alice.request(chat("edit", Id=first, Text="short"))
    bob.take()
    [page] = await bob.request(chat("choice", Chat="general"))
    assert undated(page["Messages"][1]) == msg(2, "bob", "answer", reply={
        "id": first, "user": "alice", "text": "short"})
    await alice.request(chat("remove", Id=first))
    bob.take()
    [page] = await bob.request(chat("earlier", Before=3))
    assert undated(page["Messages"][1]) == msg(2, "bob", "answer", reply={
        "id": first, "removed": True})
    bob.take()
    # a reply to a removed or unknown message (or one of another chat) is not stored
    for target in (first, 99):
        assert await bob.request(chat("message", Text="late", Reply=target)) == [
            failed("message", "not found")]
        assert alice.take() == []
    await alice.request(chat("create", Chat="elsewhere"))
    alice.take()
    assert await alice.request(chat("message", Text="x", Reply=2)) == [
        failed("message", "not found")]
    assert await stored_rows(served, "SELECT chat_id, id, reply_to FROM messages "
                                     "ORDER BY chat_id, id") == [(1, 1, None), (1, 2, 1)]
    assert await stored_rows(served, "SELECT last_id FROM chats ORDER BY id") == [(2,), (0,)]
