"""Search: ``search``, the messages whose current text has every word asked for.

A word is a run of letters and digits (Unicode's: any script), as the indexes of
:mod:`parley.search_rows` cut texts into words; anything else in ``Text``
separates words and is never query syntax. Every word must be a word of the
message, or a word's beginning, case-insensitively. Results come only from chats
the user may read (the store filters in its query); a ``Chat`` the user may not
read answers as a chat that does not exist: no results.
"""

from __future__ import annotations

import regex  # type: ignore[import-untyped]  # ships no type hints

from . import presenter, rules
from .context import Context, Handler
from .errors import Invalid
from .messages import Search
from .peer import Peer

#: the longest ``Text``, in characters
MAX_QUERY = 200
#: results in one answer
RESULTS = 50

#: a word: letters (any script), digits and private-use characters, as FTS5's
#: ``unicode61`` tokenizer reads them; marks, punctuation, ``_`` and spaces separate
_WORD = regex.compile(r"[\p{L}\p{N}\p{Co}]+")


def words(text: str) -> list[str]:
    """The words of a query, lowercased, each once, in their first order."""
    return list(dict.fromkeys(word.lower() for word in _WORD.findall(text)))


def query_problem(r: Search) -> str | None:
    """Why the request cannot be searched, or None."""
    if not r.Text:
        return "Text is required"
    if len(r.Text) > MAX_QUERY:
        return f"Text must be at most {MAX_QUERY} characters"
    if not _WORD.search(r.Text):
        return "Text must contain a word (letters or digits)"
    if r.Chat is not None:
        problem = rules.chat_name_problem(r.Chat)
        if problem:
            return problem
    elif r.Before is not None:
        return "Before pages within one chat: it needs Chat"
    return None


async def search(ctx: Context, conn: Peer, r: Search) -> None:
    user = conn.session.need_user()
    problem = query_problem(r)
    if problem:
        raise Invalid(problem)
    assert r.Text is not None
    found = await ctx.store.search(user.id, words(r.Text), chat=r.Chat, before=r.Before,
                                   limit=RESULTS)
    conn.send(presenter.search_results(found))


HANDLERS: dict[type, Handler] = {
    Search: search,
}
