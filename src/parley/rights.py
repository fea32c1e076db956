"""Who may change a message: the one place each right is decided.

Roles beyond the author and the chat's owner (the chat's moderators, server admins)
join here, as more of what :class:`Roles` knows; the callers stay as they are.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Roles:
    """What the user acting in a chat is there: today, whether they own it."""

    user_id: int
    owner: bool


def may_edit(roles: Roles, author_id: int) -> bool:
    """Only the author edits a message."""
    return roles.user_id == author_id


def may_remove(roles: Roles, author_id: int) -> bool:
    """The author or the chat's owner removes a message."""
    return roles.user_id == author_id or roles.owner
