"""Who may do what in a chat: the one place each right is decided.

:class:`Roles` is what the user acting in a chat is there: its author-independent
facts (owner, moderator, server admin), read from the database when the right is
asked (rare operations: a role granted or revoked holds at once, on every process).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: a user's role in a chat, as the ``moderators`` answer names it
Role = Literal["owner", "admin", "moderator", "member"]


@dataclass(frozen=True, slots=True)
class Roles:
    """What the user acting in a chat is there: its owner, one of its moderators, a
    server admin (moderator of every chat)."""

    user_id: int
    owner: bool
    moderator: bool = False
    admin: bool = False

    @property
    def role(self) -> Role:
        """The highest of the user's roles: an admin who owns the chat is its owner."""
        if self.owner:
            return "owner"
        if self.admin:
            return "admin"
        return "moderator" if self.moderator else "member"


def may_edit(roles: Roles, author_id: int) -> bool:
    """Only the author edits a message."""
    return roles.user_id == author_id


def may_remove(roles: Roles, author_id: int) -> bool:
    """The author, the chat's owner, its moderators and server admins remove a message."""
    return roles.user_id == author_id or may_moderate(roles)


def may_moderate(roles: Roles) -> bool:
    """Ban, unban, mute and unmute: the owner, the chat's moderators, server admins."""
    return roles.owner or roles.moderator or roles.admin


def may_appoint(roles: Roles) -> bool:
    """Grant and revoke the moderator role: the owner and server admins only."""
    return roles.owner or roles.admin


def may_be_sanctioned(target: Roles) -> bool:
    """No one bans, mutes or appoints the chat's owner or a server admin: their roles
    stand above every moderator's."""
    return not (target.owner or target.admin)
