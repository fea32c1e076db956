"""The messages domain: ``message`` (text or an image), stored by the
:class:`~parley.writer.MessageWriter` and published only after its transaction
committed (:func:`published`)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from . import activity, moderation, presenter
from .answers import message_event
from .context import Context, Handler
from .errors import ChatMissing, ImageRejected, NotFound
from .images import decode_in
from .messages import Send
from .model import Draft, Stored, StoredMessage, now_ms
from .peer import Peer


async def message(ctx: Context, conn: Peer, r: Send) -> None:
    user, place = conn.session.check_message(r, ctx.send_rate.take)
    moderation.check_sanctions(ctx, conn, user.id, place.id, mute=True)
    image = None
    created = False
    if r.Image:
        s = ctx.settings
        image = await decode_in(ctx.image_pool, r.Image, max_bytes=s.max_image_bytes,
                                max_pixels=s.max_image_pixels)
        try:
            created = await asyncio.to_thread(ctx.images.put, place.id, image)
        except OSError as exc:
            raise ImageRejected() from exc
    draft = Draft(
        chat_id=place.id, chat=place.name, user_id=user.id, login=user.login,
        text=r.Text or None, image=image.name if image else None,
        image_size=image.size if image else 0,
        image_data=ctx.images.draft_data(image) if image else None,
        nonce=r.Nonce, created_ms=now_ms(), reply_to=r.Reply,
    )
    try:
        stored = await ctx.writer.submit(draft)
    except BaseException:
        if created and image is not None:
            ctx.images.discard(place.id, image.name)
        raise
    if stored.message is None:
        if created and image is not None:
            ctx.images.discard(place.id, image.name)
        if stored.no_reply:
            raise NotFound()
        conn.chat_deleted(place.id)
        raise ChatMissing()
    if image is not None and not created:
        # The image was there already; a removal may have deleted it since (its file
        # goes once no message of the chat shows it): this message shows it again.
        await asyncio.to_thread(ctx.images.put, place.id, image)
    if stored.duplicate:
        if created and image is not None and stored.message.image != image.name:
            ctx.images.discard(place.id, image.name)  # the retry changed its image
        conn.send(presenter.message_pushed(place.name, stored.message, r.Nonce))


HANDLERS: dict[type, Handler] = {
    Send: message,
}


def published(ctx: Context, drafts: Sequence[Draft], results: Sequence[Stored]) -> None:
    """Called by the writer right after a batch committed, in commit order."""
    stored = 0
    for draft, result in zip(drafts, results, strict=True):
        message = result.message
        if message is None or result.duplicate:
            continue
        stored += 1
        _publish_message(ctx, draft, message)
        activity.publish(ctx.broker, draft.chat, message, result.mentions)
    if stored:
        ctx.metrics.messages_stored.inc(stored)


def _publish_message(ctx: Context, draft: Draft, message: StoredMessage) -> None:
    """To the chat's sockets; the sender's own sockets get the frame with its ``Nonce``."""
    shown = presenter.message(draft.chat, message)  # formatted once for both frames
    own = message_event(shown, draft.nonce) if draft.nonce else None
    ctx.publish("chat", message.chat_id, message_event(shown, None),
                message_id=message.id, sender=draft.user_id, own=own)
