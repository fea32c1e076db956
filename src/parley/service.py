"""What each request does: the session's rules, then storage, then the answers.

One method per command. A method either sends its answers through the
connection or raises a :class:`~parley.errors.ParleyError`, which
:meth:`Service.receive` (the chokepoint) answers; anything else is logged and
answered with a bare ``"Status": "error"``.

Ordering rules kept here:

- a message is published only after its transaction committed (the
  :class:`~parley.writer.MessageWriter` calls :meth:`_published` after commit);
- a connection choosing a chat is put in the chat *before* its history is
  read, with live frames held back (``conn.hold()``) until the history answer
  is sent (``hub.covered``), so no message falls between the page and the live
  stream, and none comes twice (the rules themselves: :mod:`parley.ordering`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol

from . import presenter, rules
from .broker import Broker, Event, user_event
from .config import Settings
from .errors import (
    AccessDenied,
    BadRequest,
    ChatMissing,
    Conflict,
    ImageRejected,
    Invalid,
    LoginFailed,
    NotAllowed,
    ParleyError,
    RateLimited,
)
from .hub import Hub
from .images import ImageStore, decode_in
from .limits import ConnectionCount, Throttle
from .messages import (
    ACCOUNT_FRAME,
    AccountAnswer,
    Answer,
    AnyRequest,
    ChangePassword,
    ChatAnswer,
    ChatChanges,
    Choice,
    Connected,
    Create,
    Delete,
    Earlier,
    ListChats,
    Login,
    Logout,
    Online,
    Refused,
    Registration,
    Send,
    account_command,
    decode_request,
    encode,
    joined,
    left,
)
from .metrics import Metrics
from .model import Chat, ChatSummary, Draft, Stored, StoredMessage, User, now_ms
from .ordering import MESSAGES, Position
from .outbox import text_frame
from .passwords import Hasher, new_token, token_digest
from .pools import WorkPool
from .presence import Presence
from .rules import TokenBucket
from .session import Session
from .store import OwnsTooMany, Store
from .writer import MessageWriter

log = logging.getLogger(__name__)

PAGE = 30
#: ``choice`` with ``After`` sends at most this many; the client asks again from the last
#: while a page is full. 100 texts of 4,000 control characters (6 bytes each in JSON) are
#: about 2.4 MB: one answer stays under the default ``--outbox-limit`` (4 MiB), which
#: counts answers too, and catching up on 10,000 messages is still only 100 round trips.
AFTER_PAGE = 100
#: text messages one socket may have on their way to the database at once
PIPELINE = 32
#: whole chat lists pushed to each socket without deltas: this many a second, after a
#: burst of LIST_BURST (every push counts, whatever set it off)
LIST_RATE = 2.0
LIST_BURST = 10.0
#: seconds a kept chat list is trusted (a push from another process may have been lost)
LIST_TTL = 5.0
#: close code and reason of the sockets a ``logout`` with ``Everywhere`` or a ``password``
#: change logs out (4000-4999: application codes)
CLOSE_LOGGED_OUT = 4001
LOGGED_OUT_REASON = b"logged out"
#: pushed to the other sockets on a token that a plain ``logout`` revoked
LOGGED_OUT = text_frame(encode(Answer(Type="account", Command="logout", Status="logged out")))
#: reads of the chat list tried before one that no change overlapped is given up on
LIST_READS = 5


class Connection(Protocol):
    """What the service needs of a socket (see :class:`parley.connection.Conn`)."""

    session: Session
    #: the client's address, for the per-address limits
    address: str
    #: text messages of this socket still being stored, oldest first
    pending: list[asyncio.Future[None]]

    @property
    def login(self) -> str | None: ...

    def send(self, answer: object) -> None: ...

    def send_frame(self, frame: bytes) -> None: ...

    def push(self, frame: bytes, position: Position | None = None) -> None: ...

    def hold(self) -> None: ...

    def release(self, covered: Mapping[str, int]) -> None: ...

    def chat_deleted(self, chat_id: int) -> None: ...

    def close(self, code: int, reason: bytes) -> None: ...


class Service:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        images: ImageStore,
        broker: Broker,
        hub: Hub,
        hasher: Hasher,
        metrics: Metrics,
        presence: Presence,
        *,
        image_pool: WorkPool,
    ) -> None:
        self.settings = settings
        self.store = store
        self.images = images
        self.broker = broker
        self.hub = hub
        self.hasher = hasher
        self.metrics = metrics
        self.presence = presence
        #: decodes images, within a memory budget (see images.decode_in)
        self.image_pool = image_pool
        self._tasks: set[asyncio.Task[None]] = set()
        self.writer = MessageWriter(store, self._published)
        self._buckets: dict[int, TokenBucket] = {}
        #: password logins and registrations, by address; wrong passwords by account
        self.throttle = Throttle(settings.login_rate, settings.login_burst)
        #: closed-chat passwords, by user; wrong ones by chat
        self.chat_throttle = Throttle(settings.login_rate, settings.login_burst)
        #: argon2 hashing and checking, in threads of its own (closed by the app)
        self.hashing = WorkPool("hash", threads=settings.hash_threads,
                                queue=settings.hash_queue)
        self._list_bucket = TokenBucket(LIST_RATE, LIST_BURST)
        self._list_timer: asyncio.TimerHandle | None = None
        self._list_push: asyncio.Task[None] | None = None
        hub.list_changed = self._list_changed
        #: per user: chat creates and deletes
        self._chat_buckets: dict[int, TokenBucket] = {}
        #: every open socket of this process, logged in or not
        self.sockets: set[Connection] = set()
        self.connections = ConnectionCount(settings.max_connections_per_ip)
        hub.on_user = self._user_event  # type: ignore[assignment]  # a Connection is a Peer
        self._handlers: dict[type, Callable[[Connection, AnyRequest], Awaitable[None]]] = {
            Registration: self.registration,  # type: ignore[dict-item]
            Login: self.login,  # type: ignore[dict-item]
            Logout: self.logout,  # type: ignore[dict-item]
            ChangePassword: self.password,  # type: ignore[dict-item]
            ListChats: self.list,  # type: ignore[dict-item]
            Create: self.create,  # type: ignore[dict-item]
            Choice: self.choice,  # type: ignore[dict-item]
            Earlier: self.earlier,  # type: ignore[dict-item]
            Connected: self.connected,  # type: ignore[dict-item]
            Delete: self.delete,  # type: ignore[dict-item]
            Send: self.message,  # type: ignore[dict-item]
        }

    # -- the chokepoint -------------------------------------------------------------

    async def receive(self, conn: Connection, frame: bytes | str) -> None:
        """Handle one frame from ``conn``: every outcome is an answer, never an exception."""
        if len(frame) > ACCOUNT_FRAME:
            command = account_command(frame)
            if command is not None:
                self._fail(conn, Invalid(
                    f"An account request must be at most {ACCOUNT_FRAME} characters"),
                    "account", command)
                return
        try:
            request = decode_request(frame)
        except Refused as exc:  # answered as its request, in its turn
            if conn.pending:
                await asyncio.gather(*conn.pending)
            self._fail(conn, exc, exc.type, exc.command)
            return
        except BadRequest as exc:
            self._fail(conn, exc, "error", None)
            return
        except Exception:
            log.exception("decoding a frame failed")
            self._fail(conn, BadRequest("the frame could not be read"), "error", None)
            return
        pending = conn.pending
        if type(request) is Send and not request.Image:
            # Text messages are pipelined: the next frame is read while this one is
            # being stored. They reach the writer, and are answered, in arrival order.
            if len(pending) >= PIPELINE:
                await pending[0]
            task = asyncio.ensure_future(self._answer(conn, request, after=list(pending)))
            pending.append(task)
            task.add_done_callback(pending.remove)
            return
        if pending:  # anything else waits for the messages sent before it
            await asyncio.gather(*pending)
        await self._answer(conn, request)

    async def _answer(self, conn: Connection, request: AnyRequest,
                      after: Sequence[asyncio.Future[None]] = ()) -> None:
        """Run the request's handler; a failure is answered once the requests ``after``
        (earlier pipelined messages of the socket) are, so answers keep their order."""
        command = _command(request)
        try:
            await self._handlers[type(request)](conn, request)
        except ParleyError as exc:
            await _done(after)
            self._fail(conn, exc, request.Type, command)
        except Exception:
            log.exception("request %s/%s failed", request.Type, command)
            await _done(after)
            self.metrics.errors.labels("error").inc()
            conn.send(Answer(Type=request.Type, Command=command, Status="error"))

    def _fail(self, conn: Connection, exc: ParleyError, type_: str, command: str | None) -> None:
        self.metrics.errors.labels(exc.answer_status).inc()
        conn.send(exc.answer(type_, command))

    def connected_socket(self, conn: Connection) -> None:
        self.sockets.add(conn)
        self.metrics.connections.inc()

    def disconnected(self, conn: Connection) -> None:
        """The socket is gone: it leaves its chat and the logged-in set."""
        self.sockets.discard(conn)
        self.metrics.connections.dec()
        self._leave_chat(conn)
        user = conn.session.user
        self.hub.signed_out(conn, None if user is None else user.id)

    # -- accounts ---------------------------------------------------------------------

    async def registration(self, conn: Connection, r: Registration) -> None:
        problem = (rules.login_problem(r.Login) or rules.new_name_problem(r.Login, "Login")
                   or rules.password_problem(r.Password))
        if problem:
            raise Invalid(problem)
        assert r.Login is not None
        assert r.Password is not None
        key = rules.login_key(r.Login)
        await self._slow_down(conn)
        if await self.store.find_user(key) is not None:
            raise Conflict(status="user exist")
        password_hash = await self.hashing.run(self.hasher.hash, r.Password)
        user = await self.store.create_user(r.Login, key, password_hash)
        if user is None:
            raise Conflict(status="user exist")
        token = await self._new_token(user)
        self._become(conn, user, token_digest(token))
        if r.ListChanges:
            self._take_deltas(conn)
        conn.send(AccountAnswer(Type="account", Command="registration", Status="success",
                                User=user.login, Token=token))

    async def login(self, conn: Connection, r: Login) -> None:
        if r.Token is not None:
            token = r.Token
            user = await self.store.user_by_token(token_digest(token))
        elif r.Login is not None and r.Password is not None:
            user = await self._check_password(conn, r.Login, r.Password)
            token = await self._new_token(user) if user else ""
        else:
            user = None
        if user is None:
            raise LoginFailed()
        self._become(conn, user, token_digest(token))
        conn.send(AccountAnswer(Type="account", Command="login", Status="success",
                                User=user.login, Token=token))
        await self._send_list(conn, r.ListChanges)

    async def _slow_down(self, conn: Connection) -> None:
        """Make a registration wait its turn (see :class:`~parley.limits.Throttle`)."""
        attempt = self.throttle.admit(conn.address, None, time.monotonic())
        if attempt is None:
            raise RateLimited()
        if attempt.wait > 0:
            await asyncio.sleep(attempt.wait)

    async def _check_password(self, conn: Connection, login: str, password: str) -> User | None:
        """The user, if ``password`` is theirs. An invalid login, or a password no
        account can have, fails before it costs a throttle entry or a hash."""
        if rules.login_problem(login) or not password or len(password) > rules.MAX_PASSWORD:
            return None
        found = await self.store.find_user(rules.login_key(login))
        user, stored = found if found else (None, None)
        # An unknown login costs the address as much as a wrong password, and the
        # same hash (against a dummy), but it has no account bucket to fill.
        target = str(user.id) if user is not None else None
        ok = await self._password_attempt(
            self.throttle, conn.address, target,
            functools.partial(self.hasher.verify, stored, password))
        return user if ok else None

    async def _password_attempt(self, throttle: Throttle, source: str, target: str | None,
                                check: Callable[[], bool]) -> bool:
        """One password check, charged to ``throttle`` before anything is awaited (so
        that concurrent attempts see each other), waiting its turn, then run in the
        hashing pool. A right password gives the tokens back; an attempt refused
        before its check (the pool full, the socket gone) gives back everything."""
        attempt = throttle.admit(source, target, time.monotonic())
        if attempt is None:
            raise RateLimited()
        waited = False
        try:
            if attempt.wait > 0:
                await asyncio.sleep(attempt.wait)
            waited = True
            ok = await self.hashing.run(check)
        except RateLimited:
            throttle.unchecked(attempt, time.monotonic())
            raise
        except asyncio.CancelledError:
            if not waited:
                throttle.unchecked(attempt, time.monotonic())
            raise
        if ok:
            throttle.succeeded(attempt, time.monotonic())
        return ok

    async def _new_token(self, user: User) -> str:
        token = new_token()
        expires = now_ms() + int(self.settings.token_days * 86_400_000)
        await self.store.add_token(token_digest(token), user.id, expires)
        return token

    def _become(self, conn: Connection, user: User, digest: str) -> None:
        self._sign_out(conn)
        conn.session.logged_in(user, digest)
        self.hub.signed_in(conn, user.id)

    def _sign_out(self, conn: Connection) -> None:
        """``conn`` leaves its chat and is anonymous."""
        self._leave_chat(conn)
        user = conn.session.user
        if user is not None:
            self.hub.signed_out(conn, user.id)
        conn.session.logged_out()

    async def logout(self, conn: Connection, r: Logout) -> None:
        session = conn.session
        user = session.user
        if user is None:
            raise ParleyError()
        digest = session.token_digest
        if r.Everywhere:
            await self.store.revoke_user_tokens(user.id)
        elif digest:
            await self.store.revoke_token(digest)
        self._sign_out(conn)
        conn.send(Answer(Type="account", Command="logout", Status="success"))
        if r.Everywhere:
            self.broker.publish(user_event(user.id, LOGGED_OUT_REASON, close=CLOSE_LOGGED_OUT))
        elif digest:
            self.broker.publish(user_event(user.id, LOGGED_OUT, token=digest))

    async def password(self, conn: Connection, r: ChangePassword) -> None:
        """A new password: checked like a login, then every token of the user is replaced by
        one new token for this socket, and the user's other sockets are closed."""
        user = conn.session.need_user()
        problem = rules.password_problem(r.New)
        if problem:
            raise Invalid(problem)
        assert r.New is not None
        checked = await self._check_password(conn, user.login, r.Old or "")
        if checked is None or checked.id != user.id:
            raise ParleyError()
        password_hash = await self.hashing.run(self.hasher.hash, r.New)
        token = new_token()
        digest = token_digest(token)
        expires = now_ms() + int(self.settings.token_days * 86_400_000)
        await self.store.change_password(user.id, password_hash, digest, expires)
        if conn.session.user is not None and conn.session.user.id == user.id:
            conn.session.token_digest = digest
        conn.send(AccountAnswer(Type="account", Command="password", Status="success",
                                Token=token))
        self.broker.publish(
            user_event(user.id, LOGGED_OUT_REASON, close=CLOSE_LOGGED_OUT, spare=digest))

    def _user_event(self, conn: Connection, event: Event) -> None:
        """A ``user`` event reached one of the user's sockets here: log it out, as the
        event says (see :func:`~parley.broker.user_event`)."""
        session = conn.session
        if session.user is None or session.user.id != event.chat_id:
            return
        if event.token is not None and session.token_digest != event.token:
            return
        if event.spare is not None and session.token_digest == event.spare:
            return
        self._sign_out(conn)
        if event.close:
            conn.close(event.close, event.frame)
        else:
            conn.push(event.frame)
        self.hub.deliveries += 1

    # -- chats ------------------------------------------------------------------------

    async def list(self, conn: Connection, r: ListChats) -> None:
        conn.session.need_user()
        await self._send_list(conn)

    async def create(self, conn: Connection, r: Create) -> None:
        user = conn.session.need_user()
        self._may_change_chats(user)
        problem = rules.chat_name_problem(r.Chat) or rules.new_name_problem(r.Chat, "Chat name")
        if problem:
            raise Invalid(problem)
        assert r.Chat is not None
        if r.Password:  # (an empty one makes an open chat)
            problem = rules.password_problem(r.Password)
            if problem:
                raise Invalid(problem)
        if await self.store.find_chat(r.Chat) is not None:
            raise Conflict(status="chat exist")
        most = self.settings.max_chats_per_user
        if most and await self.store.count_owned(user.id) >= most:
            raise Invalid(f"You may own at most {most} chats")
        password_hash = (
            await self.hashing.run(self.hasher.hash, r.Password) if r.Password else None
        )
        try:
            chat = await self.store.create_chat(r.Chat, user.id, password_hash, max_owned=most)
        except OwnsTooMany:
            raise Invalid(f"You may own at most {most} chats") from None
        if chat is None:
            raise Conflict(status="chat exist")
        self._leave_chat(conn)
        conn.hold()
        conn.session.chose(chat, None, 0)
        first = await self._enter(conn, chat, user)
        conn.send(ChatAnswer(Type="chat", Command="create", Status="success", Chat=chat.name))
        self.hub.covered(conn, chat.id, {MESSAGES: 0})
        await self._publish_list(
            presenter.chats_changed([ChatSummary(chat.name, chat.closed, user.login)], []))
        if first:
            self._publish_chat(chat.id, joined(chat.name, user.login))

    async def choice(self, conn: Connection, r: Choice) -> None:
        user = conn.session.need_user()
        chat = await self.store.find_chat(r.Chat) if r.Chat else None
        if chat is None:
            raise ChatMissing()
        if chat.closed and chat.owner_id != user.id:
            await self._admit(chat, user, r.Password)
        current = conn.session.chat
        if current is None or current.id != chat.id or conn.session.chat_gone:
            self._leave_chat(conn)
            conn.hold()
            conn.session.chose(chat, None, 0)
            first = await self._enter(conn, chat, user)
        else:
            first = False
        conn.hold()
        try:
            # The chat's last id, read before the page: a message committed after this
            # read is either in the page or (id above it) in the held live frames.
            last = await self.store.last_id(chat.id) or 0
            if r.After is not None:
                page = await self.store.history(chat.id, after=r.After, limit=AFTER_PAGE)
                complete = len(page) < AFTER_PAGE
            else:
                page = await self.store.history(chat.id, limit=PAGE)
                complete = True
            newest = page[-1].id if page else last
        except BaseException:
            conn.release({})
            self._leave_chat(conn)
            raise
        oldest = page[0].id if page else None
        conn.session.chose(chat, oldest, r.After if r.After is not None else newest)
        conn.send(presenter.history("choice", chat.name, page))
        self.hub.covered(conn, chat.id, {MESSAGES: newest}, complete=complete)
        if first:
            self._publish_chat(chat.id, joined(chat.name, user.login))

    async def _admit(self, chat: Chat, user: User, password: str | None) -> None:
        """Let ``user`` into the closed ``chat``: a member already, or the right password."""
        if await self.store.is_member(chat.id, user.id):
            return
        if not password or len(password) > rules.MAX_PASSWORD:
            raise AccessDenied()
        # (chats made before the 8-character minimum may have shorter passwords)
        if not await self._password_attempt(
                self.chat_throttle, f"user {user.id}", str(chat.id),
                functools.partial(self.hasher.verify, chat.password_hash, password)):
            raise AccessDenied()
        await self.store.add_member(chat.id, user.id)

    async def earlier(self, conn: Connection, r: Earlier) -> None:
        _, place = conn.session.need_chat()
        before = r.Before if r.Before is not None else conn.session.cursor
        page = await self.store.history(place.id, before=before, limit=PAGE)
        if page and (conn.session.cursor is None or page[0].id < conn.session.cursor):
            conn.session.cursor = page[0].id
        conn.send(presenter.history("earlier", place.name, page))

    async def connected(self, conn: Connection, r: Connected) -> None:
        _, place = conn.session.need_chat()
        online = await self.presence.online(place.id, self.hub.online(place.id))
        conn.send(Online(Type="chat", Command="connected", Chat=place.name, Online=online))

    async def delete(self, conn: Connection, r: Delete) -> None:
        user = conn.session.need_user()
        self._may_change_chats(user)
        name = r.Chat
        chosen = conn.session.chat
        if name is None:
            if chosen is None:
                raise NotAllowed()
            name = chosen.name
        chat = await self.store.find_chat(name)
        if chat is None or chat.name == rules.GENERAL or chat.owner_id != user.id:
            raise ParleyError()
        if r.Chat is None and chosen is not None and chosen.id != chat.id:
            raise ParleyError()  # the chosen chat is gone; this is a new one of the same name
        if not await self.store.delete_chat(chat.id):
            raise ParleyError()
        await asyncio.to_thread(self.images.drop_chat, chat.id)
        await self.presence.forget_chat(chat.id)
        place = conn.session.chat
        if place is not None and place.id == chat.id:
            self.hub.leave(conn, chat.id, user.login)
            conn.session.left_chat()
        conn.send(ChatAnswer(Type="chat", Command="delete", Status="success", Chat=chat.name))
        notice = ChatAnswer(Type="chat", Command="delete", Status="deleted", Chat=chat.name)
        self.broker.publish(Event("deleted", chat.id, text_frame(encode(notice))))
        await self._publish_list(presenter.chats_changed([], [chat.name]))

    # -- messages -----------------------------------------------------------------------

    async def message(self, conn: Connection, r: Send) -> None:
        user, place = conn.session.check_message(r, self._may_send)
        image = None
        created = False
        if r.Image:
            s = self.settings
            image = await decode_in(self.image_pool, r.Image, max_bytes=s.max_image_bytes,
                                    max_pixels=s.max_image_pixels)
            try:
                created = await asyncio.to_thread(self.images.put, place.id, image)
            except OSError as exc:
                raise ImageRejected() from exc
        draft = Draft(
            chat_id=place.id, chat=place.name, user_id=user.id, login=user.login,
            text=r.Text or None, image=image.name if image else None,
            image_size=image.size if image else 0,
            image_data=self.images.draft_data(image) if image else None,
            nonce=r.Nonce, created_ms=now_ms(),
        )
        try:
            stored = await self.writer.submit(draft)
        except BaseException:
            if created and image is not None:
                self.images.discard(place.id, image.name)
            raise
        if stored.message is None:
            if created and image is not None:
                self.images.discard(place.id, image.name)
            conn.chat_deleted(place.id)
            raise ChatMissing()
        if stored.duplicate:
            if created and image is not None and stored.message.image != image.name:
                self.images.discard(place.id, image.name)  # the retry changed its image
            conn.send(presenter.message_pushed(place.name, stored.message, r.Nonce))

    def _may_send(self, user_id: int) -> bool:
        bucket = self._buckets.get(user_id)
        if bucket is None:
            s = self.settings
            bucket = self._buckets[user_id] = TokenBucket(s.rate_limit, s.rate_burst)
        return bucket.take(time.monotonic())

    def _published(self, drafts: Sequence[Draft], results: Sequence[Stored]) -> None:
        """Called by the writer right after a batch committed, in commit order."""
        stored = 0
        for draft, result in zip(drafts, results, strict=True):
            message = result.message
            if message is None or result.duplicate:
                continue
            stored += 1
            self._publish_message(draft, message)
        if stored:
            self.metrics.messages_stored.inc(stored)

    def _publish_message(self, draft: Draft, message: StoredMessage) -> None:
        frame = text_frame(encode(presenter.message_pushed(draft.chat, message)))
        own = (text_frame(encode(presenter.message_pushed(draft.chat, message, draft.nonce)))
               if draft.nonce else None)
        self.broker.publish(Event("chat", message.chat_id, frame, message.id,
                                  sender=draft.user_id, own=own))

    # -- helpers ---------------------------------------------------------------------------

    def _publish_chat(self, chat_id: int, answer: object) -> None:
        frame = text_frame(encode(answer))  # type: ignore[arg-type]
        # presence deltas: the hubs coalesce them per user (see parley.hub)
        if isinstance(answer, Online) and answer.Joined:
            self.broker.publish(Event("joined", chat_id, frame, login=answer.Joined))
        elif isinstance(answer, Online) and answer.Left:
            self.broker.publish(Event("left", chat_id, frame, login=answer.Left))
        else:
            self.broker.publish(Event("chat", chat_id, frame))

    def _may_change_chats(self, user: User) -> None:
        """The per-user limit on creates and deletes together (each list change costs
        every logged-in socket a frame)."""
        bucket = self._chat_buckets.get(user.id)
        if bucket is None:
            s = self.settings
            bucket = self._chat_buckets[user.id] = TokenBucket(s.chat_rate / 60, s.chat_burst)
        if not bucket.take(time.monotonic()):
            raise RateLimited()

    async def _list_frame(self) -> bytes:
        """The chat list, ready to send: read once, kept until a chat comes or goes
        (on any process: the hub forgets it when a change is delivered)."""
        frame = self.hub.list_frame
        now = time.monotonic()
        if frame is None or now - self.hub.list_time > LIST_TTL:
            version = self.hub.list_version
            frame = await self._read_list()
            if self.hub.list_version == version:  # no change was delivered meanwhile
                self.hub.list_frame, self.hub.list_time = frame, now
        return frame

    async def _fresh_list(self) -> tuple[bytes, int]:
        """The chat list and the hub's :attr:`~parley.hub.Hub.list_version` it holds:
        read again while changes are delivered during the read (a few times at most)."""
        for _ in range(LIST_READS):
            version = self.hub.list_version
            frame = await self._list_frame()
            if self.hub.list_version == version:
                break
        return frame, version

    async def _send_list(self, conn: Connection, changes: bool = False) -> None:
        """The whole list to ``conn``; with ``changes``, deltas follow from then on:
        no change delivered after the list was read is missed."""
        frame, _ = await self._fresh_list()
        if changes and conn in self.sockets:  # still open
            self._take_deltas(conn)
        conn.send_frame(frame)

    def _take_deltas(self, conn: Connection) -> None:
        """From now on ``conn`` gets the list's changes as deltas, not whole lists."""
        self.hub.list_changes.add(conn)

    async def _publish_list(self, change: ChatChanges) -> None:
        """Tell every process the list changed: the delta goes to the sockets that take
        deltas, and each process pushes the whole list to its other sockets (see
        :meth:`_list_changed`). Waits for this process's push when one is under way, so
        the requester gets the list before what follows it."""
        self.broker.publish(Event("list", 0, text_frame(encode(change))))
        if self._list_push is not None:
            await asyncio.shield(self._list_push)

    def _list_changed(self) -> None:
        """The chat list changed, here or on another process: push the whole list to
        this process's sockets without deltas, at once when the bucket allows, else when
        it will (a burst of changes costs each socket a few lists, not one per change).
        Every push takes a token, however it was set off."""
        if self._list_push is not None or self._list_timer is not None:
            return  # the push under way or due reads the newest list
        if not self.hub.wants_whole_lists():
            return
        now = time.monotonic()
        if self._list_bucket.take(now):
            self._list_push = task = asyncio.ensure_future(self._push_list())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self._list_timer = asyncio.get_running_loop().call_later(
                self._list_bucket.delay(now), self._list_due)

    def _list_due(self) -> None:
        self._list_timer = None
        self._list_changed()

    async def _push_list(self) -> None:
        try:
            frame, version = await self._fresh_list()
            self.hub.push_list(frame)
        except Exception:  # the database is away: the next change tries again
            log.exception("reading the chat list failed")
            return
        finally:
            self._list_push = None
        if self.hub.list_version != version:  # a change overlapped the last read
            self._list_changed()

    async def _read_list(self) -> bytes:
        """The chat list from the database, as a ready frame."""
        return text_frame(encode(presenter.chats(await self.store.list_chats())))

    async def _enter(self, conn: Connection, chat: Chat, user: User) -> bool:
        """Put ``conn`` in the chat; True when it is its user's first socket there on any
        process (the caller then pushes ``Joined``)."""
        if not self.hub.enter(conn, chat.id, chat.name, user.login):
            return False
        return await self.presence.arrived(chat.id, chat.name, user.login)

    def _leave_chat(self, conn: Connection) -> None:
        """Take ``conn`` out of its chat, telling the others if its user is gone from it."""
        session = conn.session
        place = session.chat
        if place is None or session.user is None:
            session.left_chat()
            return
        last = self.hub.leave(conn, place.id, session.user.login)
        session.left_chat()
        if last:
            self._background(self._departed(place.id, place.name, session.user.login))

    async def _departed(self, chat_id: int, chat: str, login: str) -> None:
        if await self.presence.departed(chat_id, chat, login):
            self.user_gone(chat_id, chat, login)

    def user_gone(self, chat_id: int, chat: str, login: str) -> None:
        """Push ``Left``: the user's last socket in the chat, on any process, is gone."""
        self._publish_chat(chat_id, left(chat, login))

    def _background(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the background work (presence updates) still under way."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


async def _done(futures: Sequence[asyncio.Future[None]]) -> None:
    if futures:
        await asyncio.gather(*futures, return_exceptions=True)


def _command(request: AnyRequest) -> str:
    return type(request).__struct_config__.tag  # type: ignore[return-value]
