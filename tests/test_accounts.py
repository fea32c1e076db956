"""Accounts over real sockets: registration, login by password and by token, logout."""

from __future__ import annotations

from conftest import PASSWORD, Connect, ServerProcess, unique, user

REG = {"Type": "account", "Command": "registration"}


async def test_registration_logs_the_connection_in(connect: Connect) -> None:
    client = await connect()
    login = unique("Al")
    answer = await client.request({**REG, "Login": login, "Password": PASSWORD})
    assert set(answer) == {"Type", "Command", "Status", "User", "Token"}
    assert answer["Status"] == "success"
    assert answer["User"] == login
    assert len(answer["Token"]) >= 32
    # logged in: a chat command works, and there was nothing else to read
    assert (await client.request({"Type": "chat", "Command": "list"}))["Command"] == "list"


async def test_user_exist_is_case_insensitive(connect: Connect) -> None:
    first = await user(connect)
    assert first.user is not None
    again = await connect()
    for login in (first.user, first.user.upper()):
        assert await again.register(login, PASSWORD) == {**REG, "Status": "user exist"}


async def test_invalid_login_or_password(connect: Connect) -> None:
    client = await connect()
    cases = [
        ({"Login": "", "Password": PASSWORD}, "Login is required"),
        ({"Password": PASSWORD}, "Login is required"),
        ({"Login": "x" * 33, "Password": PASSWORD}, "Login must be at most 32 characters"),
        ({"Login": "two words", "Password": PASSWORD},
         "Login may contain only letters, digits, '_', '.' and '-'"),
        ({"Login": "a@b", "Password": PASSWORD},
         "Login may contain only letters, digits, '_', '.' and '-'"),
        ({"Login": unique(), "Password": "short"}, "Password must be at least 8 characters"),
        ({"Login": unique()}, "Password must be at least 8 characters"),
        ({"Login": unique(), "Password": "p" * 1025}, "Password must be at most 1024 characters"),
    ]
    for fields, detail in cases:
        assert await client.request({**REG, **fields}) == {
            **REG, "Status": "error", "Detail": detail}
    # still anonymous after all of them
    assert await client.request({"Type": "chat", "Command": "list"}) == {
        "Type": "chat", "Command": "list", "Status": "error in chat or user"}


async def test_login_by_password_then_the_chat_list(connect: Connect) -> None:
    registered = await user(connect)
    client = await connect()
    answer = await client.request(
        {"Type": "account", "Command": "login", "Login": registered.user, "Password": PASSWORD})
    assert answer["Status"] == "success"
    assert answer["User"] == registered.user
    assert answer["Token"] != registered.token  # a token of its own
    chats = await client.recv()
    assert chats["Type"] == "chat"
    assert chats["Command"] == "list"
    assert chats["Chats"][0] == {"name": "general", "closed": False, "owner": None}


async def test_login_is_case_insensitive_and_answers_the_registered_spelling(
    connect: Connect,
) -> None:
    registered = await user(connect, login=unique("MiXeD"))
    assert registered.user is not None
    client = await connect()
    answer = await client.login(registered.user.lower(), PASSWORD)
    assert answer["User"] == registered.user


async def test_login_by_token(connect: Connect) -> None:
    registered = await user(connect)
    client = await connect()
    answer = await client.request(
        {"Type": "account", "Command": "login", "Token": registered.token})
    assert answer == {"Type": "account", "Command": "login", "Status": "success",
                      "User": registered.user, "Token": registered.token}
    assert (await client.recv())["Command"] == "list"


async def test_login_failures_all_look_alike(connect: Connect) -> None:
    registered = await user(connect)
    client = await connect()
    failed = {"Type": "account", "Command": "login", "Status": "error"}
    for fields in (
        {"Login": registered.user, "Password": "wrong password"},
        {"Login": unique(), "Password": PASSWORD},
        {"Login": "bad login!", "Password": PASSWORD},
        {"Token": "not-a-token"},
        {"Login": registered.user},
        {},
    ):
        assert await client.request({"Type": "account", "Command": "login", **fields}) == failed
    assert await client.silent()


async def test_one_user_on_several_sockets(connect: Connect) -> None:
    registered = await user(connect)
    second = await connect()
    assert (await second.login(registered.user, PASSWORD))["Status"] == "success"
    assert (await registered.request({"Type": "chat", "Command": "list"}))["Command"] == "list"
    assert (await second.request({"Type": "chat", "Command": "list"}))["Command"] == "list"


async def test_logout_revokes_the_token_and_leaves_the_chat(connect: Connect) -> None:
    alice = await user(connect)
    watcher = await user(connect)
    name = unique("room")
    await watcher.create(name)
    assert (await watcher.recv())["Command"] == "list"
    assert (await watcher.recv())["Joined"] == watcher.user
    assert (await alice.recv())["Command"] == "list"
    assert (await alice.choose(name))["Command"] == "choice"
    assert (await alice.recv())["Joined"] == alice.user
    assert (await watcher.recv())["Joined"] == alice.user
    assert await alice.logout() == {"Type": "account", "Command": "logout", "Status": "success"}
    assert await watcher.recv() == {
        "Type": "chat", "Command": "connected", "Chat": name, "Left": alice.user}
    # anonymous again
    assert await alice.request({"Type": "chat", "Command": "message", "Text": "hi"}) == {
        "Type": "chat", "Command": "message", "Status": "error in chat or user"}
    assert await alice.logout() == {"Type": "account", "Command": "logout", "Status": "error"}
    # the token is gone
    other = await connect()
    assert await other.request({"Type": "account", "Command": "login", "Token": alice.token}) == {
        "Type": "account", "Command": "login", "Status": "error"}


async def test_passwords_and_tokens_are_stored_hashed(
    fresh_server: ServerProcess, connect: Connect
) -> None:
    client = await user(connect, fresh_server.ws)
    assert client.token is not None
    [(password_hash,)] = await fresh_server.rows(
        "SELECT password_hash FROM users WHERE login = :login", login=client.user)
    digests = [row[0] for row in await fresh_server.rows("SELECT digest FROM tokens")]
    assert password_hash.startswith("$argon2id$")
    assert PASSWORD not in password_hash
    assert client.token not in digests
    assert len(digests) == 1
    assert len(digests[0]) == 64


async def test_registering_while_logged_in_switches_user(connect: Connect) -> None:
    client = await user(connect)
    login = unique()
    answer = await client.register(login, PASSWORD)
    assert answer["User"] == login
