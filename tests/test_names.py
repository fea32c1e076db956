# Look-alike letters of other scripts are what these tests are about:
# ruff: noqa: RUF001, RUF003
"""New logins and new chat names: one script (Unicode TS #39's resolved script set),
and no invisible or text-direction characters. Names made before keep working."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from conftest import PASSWORD, Connect, ServerProcess, unique, user
from parley import rules
from parley.config import normalize_database_url

MIXED = {"Login": "Login may not mix letters of different scripts",
         "Chat name": "Chat name may not mix letters of different scripts"}
HIDDEN = {"Login": "Login may not contain invisible or text-direction characters",
          "Chat name": "Chat name may not contain invisible or text-direction characters"}

FORMAT_CHARACTERS = [chr(c) for c in (*range(0x200B, 0x2010), *range(0x202A, 0x202F),
                                      *range(0x2066, 0x206A), 0xFEFF)]


@pytest.mark.parametrize("what", ["Login", "Chat name"])
@pytest.mark.parametrize("name", [
    "alice", "Alice_1", "a.b-c", "bob2000", "2000",           # Latin, digits, Common
    "Иван", "иван_петров", "Ёжик-2", "Пётр.1",                 # all Cyrillic
    "Ελένη", "Σωκράτης99",                                     # all Greek
    "Café", "cafe\u0301", "Zoë", "Łukasz",                     # Latin with marks
    "日本語", "ひらがな", "カタカナ", "東京タワー", "山田はなこ",  # Japanese: Han+Hiragana+Katakana
    "한국어", "김민준", "韓國한국",                             # Korean: Hangul, Han+Hangul
    "ㄅㄆㄇ注音",                                             # Han+Bopomofo
    "مريم", "שלום", "ไทย", "नमस्ते",                          # other single scripts
    "_", "123", "---",                                         # Common only
])
def test_one_script_is_fine(name: str, what: str) -> None:
    assert rules.new_name_problem(name, what) is None


@pytest.mark.parametrize("what", ["Login", "Chat name"])
@pytest.mark.parametrize("name", [
    "pаypal",          # Latin with a Cyrillic а
    "аdmin",           # Cyrillic а first
    "Иван_ivan",       # Cyrillic and Latin
    "ivanИ",
    "ρaul",            # Greek ρ and Latin
    "Σaul",
    "αβγabc",
    "Ιван",            # Greek Ι and Cyrillic
    "漢字abc",          # Han and Latin
    "カタカナabc",       # Katakana and Latin
    "한국ひらがな",       # Hangul and Hiragana
    "مريمa",           # Arabic and Latin
    "a1я",
])
def test_mixed_scripts_are_refused(name: str, what: str) -> None:
    assert rules.new_name_problem(name, what) == MIXED[what]


@pytest.mark.parametrize("what", ["Login", "Chat name"])
@pytest.mark.parametrize("char", FORMAT_CHARACTERS)
def test_each_invisible_or_direction_character_is_refused(char: str, what: str) -> None:
    assert len(FORMAT_CHARACTERS) == 15
    for name in (f"ad{char}min", f"{char}admin", f"admin{char}", f"Иван{char}"):
        assert rules.new_name_problem(name, what) == HIDDEN[what], hex(ord(char))


def test_nothing_to_say_about_a_missing_name() -> None:
    assert rules.new_name_problem(None, "Login") is None
    assert rules.new_name_problem("", "Chat name") is None


def test_chat_names_may_have_spaces_punctuation_and_emoji() -> None:
    assert rules.new_name_problem("Team room #2 (2026) 🚀", "Chat name") is None
    assert rules.new_name_problem("Общий чат №1 🚀", "Chat name") is None
    assert rules.new_name_problem("Team чат", "Chat name") == MIXED["Chat name"]


# --------------------------------------------------------------------------- end to end


async def test_registration_refuses_look_alike_logins(
    connect: Connect, server: ServerProcess
) -> None:
    client = await connect()
    for login, detail in ((f"pаypal{unique()}", MIXED["Login"]),
                          (f"Ιван{unique()}", MIXED["Login"])):
        assert await client.register(login, PASSWORD) == {
            "Type": "account", "Command": "registration", "Status": "error",
            "Detail": detail}
        assert await server.rows("SELECT id FROM users WHERE login = :l", l=login) == []
    # the login is checked before the password
    assert await client.register(f"pаypal{unique()}", "short") == {
        "Type": "account", "Command": "registration", "Status": "error",
        "Detail": MIXED["Login"]}
    cyrillic = "Иван" + unique("").replace("x", "-")
    assert (await client.register(cyrillic, PASSWORD))["Status"] == "success"


async def test_create_refuses_look_alike_and_hidden_chat_names(
    connect: Connect, server: ServerProcess
) -> None:
    owner = await user(connect)
    for name, detail in ((f"gеneral{unique()}", MIXED["Chat name"]),
                         (f"room\u202e{unique()}", HIDDEN["Chat name"]),
                         (f"\u200b{unique('room')}", HIDDEN["Chat name"])):
        assert await owner.create(name) == {
            "Type": "chat", "Command": "create", "Status": "error", "Detail": detail}
        assert await server.rows("SELECT id FROM chats WHERE name = :n", n=name) == []
    name = "Чат " + unique("").replace("x", "-")
    assert await owner.create(name) == {
        "Type": "chat", "Command": "create", "Status": "success", "Chat": name}


async def test_names_made_before_keep_working(
    connect: Connect, server: ServerProcess
) -> None:
    """A login and a chat name that would be refused now, stored before the rule: the
    login still logs in by name, and the chat is still chosen by name."""
    login = f"pаypal{unique()}"  # Cyrillic а
    chat = f"gеneral{unique()}"  # Cyrillic е
    owner = await user(connect)
    assert owner.user is not None
    password_hash = (await server.rows(
        "SELECT password_hash FROM users WHERE login = :l", l=owner.user))[0][0]
    engine = create_async_engine(normalize_database_url(server.db_url))
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text(
                "INSERT INTO users (login, login_key, password_hash, created_ms) "
                "VALUES (:l, :k, :h, 0)"),
                {"l": login, "k": rules.login_key(login), "h": password_hash})
            await conn.execute(sa.text(
                "INSERT INTO chats (name, owner_id, password_hash, last_id, created_ms) "
                "VALUES (:n, NULL, NULL, 0, 0)"), {"n": chat})
    finally:
        await engine.dispose()
    old = await connect()
    assert (await old.login(login, PASSWORD))["Status"] == "success"
    assert await old.choose(chat) == {"Type": "chat", "Command": "choice", "Chat": chat,
                                      "Messages": [], "Change": 0}
