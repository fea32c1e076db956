"""The model behind the state machine of changes (``tests/test_stateful_changes.py``):
one chat's messages as the server must keep them (text, edited, removed, reactions in
the order users reacted, reply) and its change numbers, and the exact frames a request
must bring (dates as ``"DATE"``, see :func:`changes_kit.undated`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Frame = dict[str, Any]


def chat(command: str, **fields: Any) -> Frame:
    return {"Type": "chat", "Command": command, **fields}


def failed(command: str, status: str) -> Frame:
    return chat(command, Status=status)


@dataclass
class MMessage:
    id: int
    user: str
    text: str
    reply: int | None = None
    edited: bool = False
    removed: bool = False
    #: emoji -> logins in the order they reacted (emoji in the order first used)
    reactions: dict[str, list[str]] = field(default_factory=dict)
    #: the newest change number that touched it (0: never changed)
    change: int = 0


@dataclass
class MChat:
    name: str
    owner: str
    messages: list[MMessage] = field(default_factory=list)
    change: int = 0

    def get(self, pick: int) -> MMessage | None:
        """A message picked by any number (None while there is none)."""
        return self.messages[pick % len(self.messages)] if self.messages else None

    def shown(self, m: MMessage) -> Frame:
        """The message object the wire must show now."""
        if m.removed:
            return {"id": m.id, "user": m.user, "date": "DATE", "removed": True}
        out: Frame = {"id": m.id, "user": m.user, "date": "DATE", "text": m.text}
        if m.edited:
            out["edited"] = "DATE"
        if m.reply is not None:
            original = self.messages[m.reply - 1]
            out["reply"] = ({"id": original.id, "removed": True} if original.removed else
                            {"id": original.id, "user": original.user,
                             "text": original.text[:100]})
        if m.reactions:
            out["reactions"] = {e: list(users) for e, users in m.reactions.items()}
        return out

    # -- requests, each with its effect on the model and the frame it must bring ------
    # (a frame for everyone in the chat, or the requester's failure: ``(frame, to_all)``)

    def send(self, user: str, text: str, reply: MMessage | None) -> tuple[Frame, bool]:
        if reply is not None and reply.removed:
            return failed("message", "not found"), False
        stored = MMessage(len(self.messages) + 1, user, text,
                          reply=None if reply is None else reply.id)
        self.messages.append(stored)
        return chat("message", Message=self.shown(stored)), True

    def edit(self, user: str, m: MMessage, text: str) -> tuple[Frame, bool]:
        if m.removed:
            return failed("edit", "not found"), False
        if m.user != user:
            return failed("edit", "not allowed"), False
        m.text, m.edited = text, True
        return chat("edit", Chat=self.name, Change=self._next(m), Message=self.shown(m)), True

    def remove(self, user: str, m: MMessage) -> tuple[Frame, bool]:
        if m.removed:
            return failed("remove", "not found"), False
        if user not in (m.user, self.owner):
            return failed("remove", "not allowed"), False
        m.removed, m.reactions = True, {}
        return chat("remove", Chat=self.name, Change=self._next(m), Id=m.id), True

    def react(self, user: str, m: MMessage, emoji: str) -> tuple[Frame, bool]:
        if not valid_emoji(emoji):
            return failed("react", "error"), False
        if m.removed:
            return failed("react", "not found"), False
        users = m.reactions.setdefault(emoji, [])
        if user in users:
            users.remove(user)
            if not users:
                del m.reactions[emoji]
        else:
            users.append(user)
        return chat("react", Chat=self.name, Change=self._next(m), Id=m.id,
                    Reactions=self.shown(m).get("reactions", {})), True

    def resumed(self, after: int, changes: int) -> Frame:
        """The ``choice`` answer to ``After`` and ``Changes`` (fewer than a page here)."""
        changed = sorted((m for m in self.messages[:after] if m.change > changes),
                         key=lambda m: m.change)
        return chat("choice", Chat=self.name, Change=self.change,
                    Messages=[self.shown(m) for m in self.messages[after:after + 100]],
                    Changed=[self.shown(m) for m in changed])

    def _next(self, m: MMessage) -> int:
        self.change += 1
        m.change = self.change
        return self.change


def valid_emoji(emoji: str) -> bool:
    """The machine's emoji are either fine or hold a letter or digit."""
    return not any(c.isalnum() for c in emoji)
