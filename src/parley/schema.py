"""The database tables, in SQLAlchemy Core. Alembic migrations create them.

Times are integers of milliseconds since the epoch, so that SQLite and
PostgreSQL store and compare them alike. A chat's ``last_id`` is the id of its
newest message: a writer raises it in the same transaction that inserts the
messages, which takes the chat's row lock and so keeps ids in commit order
even with several writer processes.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    false,
)

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("login", String(32), nullable=False),
    Column("login_key", String(1024), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    # a server admin: moderator of every chat (``parley admin grant``; see migration 0009)
    Column("admin", Boolean, nullable=False, server_default=false()),
    # may not log in: ``parley admin disable``
    Column("disabled", Boolean, nullable=False, server_default=false()),
    # when the user was last connected (NULL: not since migration 0009)
    Column("seen_ms", BigInteger, nullable=True),
    sqlite_autoincrement=True,
)

tokens = Table(
    "tokens",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
    Index("tokens_user", "user_id"),
)

chats = Table(
    "chats",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # (400: a direct chat's name holds up to ten logins; see migration 0004)
    Column("name", String(400), nullable=False, unique=True),
    # the name after NFKC and case folding (parley.rules.chat_key): no two chats alike;
    # NULL only for a look-alike created before the rule (see migration 0003)
    Column("name_key", String(1024), nullable=True),
    Column("owner_id", Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("password_hash", Text, nullable=True),
    Column("last_id", BigInteger, nullable=False, server_default="0"),
    Column("created_ms", BigInteger, nullable=False),
    # a direct chat's member set: its members' user ids, ascending, joined by ","
    # (parley.direct.member_key); NULL for every other chat (see migration 0004)
    Column("direct_key", String(1024), nullable=True),
    # the chat's newest change number (edits, removals, reactions; see migration 0006),
    # raised like ``last_id`` in the transaction that stores the change
    Column("last_change", BigInteger, nullable=False, server_default="0"),
    Index("chats_folded_name", "name_key", unique=True),
    Index("chats_direct_key", "direct_key", unique=True),
    sqlite_autoincrement=True,
)

#: who is a member of which chat: by creating it, by choosing it (a closed chat with its
#: password once), until ``leave``; ``read_id`` is the member's read pointer
members = Table(
    "members",
    metadata,
    Column("chat_id", Integer, ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("read_id", BigInteger, nullable=False, server_default="0"),
    Index("members_user", "user_id"),
)

#: (Its full-text index differs by database and is not described here: on SQLite the
#: FTS5 table ``messages_fts``, its triggers and the table ``search_backlog`` of new
#: messages not indexed yet, on PostgreSQL the generated column ``search`` and the
#: indexes ``messages_search`` and ``messages_newest``; see migrations 0007_search and
#: 0010_search_backlog, parley.search_rows and parley.search_index.)
messages = Table(
    "messages",
    metadata,
    Column("chat_id", Integer, ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True),
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("user_id", Integer, nullable=False),
    Column("login", String(32), nullable=False),
    Column("text", Text, nullable=True),
    Column("image", String(48), nullable=True),
    Column("nonce", String(64), nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    # when it was last edited; a removed message's text and image are NULL
    Column("edited_ms", BigInteger, nullable=True),
    Column("removed", Boolean, nullable=False, server_default=false()),
    # the id of the message (of the same chat) this one replies to
    Column("reply_to", BigInteger, nullable=True),
    # the newest change that touched it (NULL: never changed)
    Column("change", BigInteger, nullable=True),
    Index("messages_nonce", "chat_id", "user_id", "nonce", unique=True),
    Index("messages_change", "chat_id", "change"),
)

#: who reacted to which message with which emoji; ``change`` orders the users of an emoji
reactions = Table(
    "reactions",
    metadata,
    Column("chat_id", Integer, ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True),
    Column("message_id", BigInteger, primary_key=True, autoincrement=False),
    Column("emoji", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("change", BigInteger, nullable=False),
)

#: who a message mentions (``@login``, see parley.mentions), written with the message
mentions = Table(
    "mentions",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("chat_id", Integer, ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True),
    Column("message_id", BigInteger, primary_key=True, autoincrement=False),
)

images = Table(
    "images",
    metadata,
    Column("chat_id", Integer, ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(48), primary_key=True),
    Column("size", Integer, nullable=False),
    # The bytes, when the image store is the database (shared by all processes);
    # NULL when the bytes live in the data dir.
    Column("data", LargeBinary, nullable=True),
)

#: who moderates which chat (granted by its owner or a server admin)
moderators = Table(
    "moderators",
    metadata,
    Column("chat_id", Integer, ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)

#: a ban or a mute (``kind``: "ban", "mute") of a user in a chat, until ``until_ms``
#: (NULL: until lifted); a row whose time has passed counts as none
sanctions = Table(
    "sanctions",
    metadata,
    Column("chat_id", Integer, ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(8), primary_key=True),
    Column("until_ms", BigInteger, nullable=True),
)

#: what ``parley admin`` asks of the running servers: an encoded broker event a row, read
#: by every server process each second after the last row it read (parley.control)
control = Table(
    "control",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("event", LargeBinary, nullable=False),
    sqlite_autoincrement=True,
)
