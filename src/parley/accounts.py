"""The accounts domain: ``registration``, ``login``, ``logout``, ``password``, ``users``,
and the ``user`` events that log a user's sockets out on every process."""

from __future__ import annotations

import asyncio
import functools
import time

from . import chats, rules
from .answers import AccountAnswer, Answer, UserList
from .broker import Event
from .context import Context, Handler
from .errors import Conflict, Disabled, Invalid, LoginFailed, ParleyError, RateLimited
from .messages import ChangePassword, Login, Logout, Registration, Users
from .model import User, now_ms
from .passwords import new_token, token_digest
from .peer import Peer

#: close code and reason of the sockets a ``logout`` with ``Everywhere`` or a ``password``
#: change logs out (4000-4999: application codes)
CLOSE_LOGGED_OUT = 4001
LOGGED_OUT_REASON = b"logged out"
#: ``users`` answers with at most this many logins
USERS_PAGE = 20
#: pushed to the other sockets on a token that a plain ``logout`` revoked
LOGGED_OUT = Answer(Type="account", Command="logout", Status="logged out")


async def registration(ctx: Context, conn: Peer, r: Registration) -> None:
    problem = (rules.login_problem(r.Login) or rules.new_name_problem(r.Login, "Login")
               or rules.password_problem(r.Password))
    if problem:
        raise Invalid(problem)
    assert r.Login is not None
    assert r.Password is not None
    key = rules.login_key(r.Login)
    await _slow_down(ctx, conn)
    if await ctx.store.find_user(key) is not None:
        raise Conflict(status="user exist")
    password_hash = await ctx.hashing.run(ctx.hasher.hash, r.Password)
    user = await ctx.store.create_user(r.Login, key, password_hash)
    if user is None:
        raise Conflict(status="user exist")
    token = await _new_token(ctx, user)
    _become(ctx, conn, user, token_digest(token))
    await ctx.subscriptions.signed_in(user.id, new=True)
    if r.ListChanges:
        ctx.lists.take_deltas(conn)
    conn.send(AccountAnswer(Type="account", Command="registration", Status="success",
                            User=user.login, Token=token))


async def login(ctx: Context, conn: Peer, r: Login) -> None:
    if r.Token is not None:
        token = r.Token
        user = await ctx.store.user_by_token(token_digest(token))
    elif r.Login is not None and r.Password is not None:
        user = await _check_password(ctx, conn, r.Login, r.Password)
        if user is not None and user.disabled:
            raise Disabled()
        token = await _new_token(ctx, user) if user else ""
    else:
        user = None
    if user is None:
        raise LoginFailed()
    if user.disabled:
        raise Disabled()
    _become(ctx, conn, user, token_digest(token))
    conn.send(AccountAnswer(Type="account", Command="login", Status="success",
                            User=user.login, Token=token))
    # the activity of the user's chats reaches this process from the list on
    await ctx.subscriptions.signed_in(user.id)
    await chats.send_list(ctx, conn, r.ListChanges)


async def logout(ctx: Context, conn: Peer, r: Logout) -> None:
    session = conn.session
    user = session.user
    if user is None:
        raise ParleyError()
    digest = session.token_digest
    if r.Everywhere:
        await ctx.store.revoke_user_tokens(user.id)
    elif digest:
        await ctx.store.revoke_token(digest)
    sign_out(ctx, conn)
    conn.send(Answer(Type="account", Command="logout", Status="success"))
    if r.Everywhere:
        ctx.log_out(user.id, close=CLOSE_LOGGED_OUT, reason=LOGGED_OUT_REASON)
    elif digest:
        ctx.log_out(user.id, answer=LOGGED_OUT, token=digest)


async def password(ctx: Context, conn: Peer, r: ChangePassword) -> None:
    """A new password: checked like a login, then every token of the user is replaced by
    one new token for this socket, and the user's other sockets are closed."""
    user = conn.session.need_user()
    problem = rules.password_problem(r.New)
    if problem:
        raise Invalid(problem)
    assert r.New is not None
    checked = await _check_password(ctx, conn, user.login, r.Old or "")
    if checked is None or checked.id != user.id:
        raise ParleyError()
    password_hash = await ctx.hashing.run(ctx.hasher.hash, r.New)
    token = new_token()
    digest = token_digest(token)
    expires = now_ms() + int(ctx.settings.token_days * 86_400_000)
    await ctx.store.change_password(user.id, password_hash, digest, expires)
    if conn.session.user is not None and conn.session.user.id == user.id:
        conn.session.token_digest = digest
    conn.send(AccountAnswer(Type="account", Command="password", Status="success", Token=token))
    ctx.log_out(user.id, close=CLOSE_LOGGED_OUT, reason=LOGGED_OUT_REASON, spare=digest)


async def users(ctx: Context, conn: Peer, r: Users) -> None:
    """Logins that start with the prefix, compared case-insensitively (on login keys)."""
    conn.session.need_user()
    if not r.Prefix or len(r.Prefix) > rules.MAX_LOGIN:
        raise Invalid(f"Prefix must be 1 to {rules.MAX_LOGIN} characters")
    found = await ctx.store.logins_starting(rules.login_key(r.Prefix), USERS_PAGE)
    conn.send(UserList(Type="account", Command="users", Users=found))


HANDLERS: dict[type, Handler] = {
    Registration: registration,
    Login: login,
    Logout: logout,
    ChangePassword: password,
    Users: users,
}


def user_event(ctx: Context, conn: Peer, event: Event) -> None:
    """A ``user`` event reached one of the user's sockets here: log it out, as the
    event says (see :func:`~parley.broker.user_event`)."""
    session = conn.session
    if session.user is None or session.user.id != event.chat_id:
        return
    if event.token is not None and session.token_digest != event.token:
        return
    if event.spare is not None and session.token_digest == event.spare:
        return
    sign_out(ctx, conn)
    if event.close:
        conn.close(event.close, event.frame)
    else:
        conn.push(event.frame)
    ctx.hub.count(1)


def sign_out(ctx: Context, conn: Peer) -> None:
    """``conn`` leaves its chat and is anonymous."""
    chats.leave_chat(ctx, conn)
    user = conn.session.user
    if user is not None:
        _signed_out(ctx, conn, user.id)
    conn.session.logged_out()


def gone(ctx: Context, conn: Peer) -> None:
    """The socket is gone: it leaves its chat and the logged-in sockets (its session is
    left as it is, for its messages still on their way to the database). Its user
    lingers in its chat for a while: a reconnect is not a departure."""
    chats.leave_chat(ctx, conn, closed=True)
    user = conn.session.user
    _signed_out(ctx, conn, None if user is None else user.id)


def _signed_out(ctx: Context, conn: Peer, user_id: int | None) -> None:
    ctx.hub.signed_out(conn, user_id)
    ctx.lists.forget(conn)
    if user_id is not None and user_id not in ctx.hub.users:
        ctx.seen.mark(user_id)  # the user's last socket here
        ctx.subscriptions.signed_out(user_id)


def _become(ctx: Context, conn: Peer, user: User, digest: str) -> None:
    sign_out(ctx, conn)
    conn.session.logged_in(user, digest)
    ctx.hub.signed_in(conn, user.id)
    ctx.seen.mark(user.id)


async def _slow_down(ctx: Context, conn: Peer) -> None:
    """Make a registration wait its turn (see :class:`~parley.limits.Throttle`)."""
    attempt = ctx.throttle.admit(conn.address, None, time.monotonic())
    if attempt is None:
        raise RateLimited()
    if attempt.wait > 0:
        await asyncio.sleep(attempt.wait)


async def _check_password(ctx: Context, conn: Peer, login: str, password: str) -> User | None:
    """The user, if ``password`` is theirs. An invalid login, or a password no
    account can have, fails before it costs a throttle entry or a hash."""
    if rules.login_problem(login) or not password or len(password) > rules.MAX_PASSWORD:
        return None
    found = await ctx.store.find_user(rules.login_key(login))
    user, stored = found if found else (None, None)
    # An unknown login costs the address as much as a wrong password, and the
    # same hash (against a dummy), but it has no account bucket to fill.
    target = str(user.id) if user is not None else None
    ok = await ctx.password_attempt(
        ctx.throttle, conn.address, target,
        functools.partial(ctx.hasher.verify, stored, password))
    return user if ok else None


async def _new_token(ctx: Context, user: User) -> str:
    token = new_token()
    expires = now_ms() + int(ctx.settings.token_days * 86_400_000)
    await ctx.store.add_token(token_digest(token), user.id, expires)
    return token
