// What goes on around the open chat: direct chats, unread counts and badges, desktop
// notifications, who is typing, and drafts. app.js calls the hooks below at the points
// of its own flow (logged in, a chat entered or left, a message, the list drawn), and
// gives every frame to handle() first.

import { DirectChats, chatLabel, isDirect, renderDirectList } from "./directs.js";
import { Drafts } from "./drafts.js";
import { t } from "./i18n.js";
import { Jump } from "./jump.js";
import { Notifier } from "./notify.js";
import { state } from "./state.js";
import { Typing } from "./typing.js";
import { $, toast } from "./ui.js";
import { ReadMarker, Unread } from "./unread.js";

export class Live {
  /**
   * send(request): sends (false when offline); messages, composer: the views;
   * enterDirect(chat, messages): the `direct` answer chose this chat;
   * openChat(chat): chooses a chat.
   */
  constructor({ send, messages, composer, enterDirect, openChat }) {
    this.messages = messages;
    this.composer = composer;
    this.enterDirect = enterDirect;
    this.openChat = openChat;
    this.pick = () => {};
    this.directs = new DirectChats(send);
    this.directs.onError = (text) => toast(text, "error");
    this.unread = new Unread(send, () => this.countsChanged());
    this.marker = new ReadMarker((id) => {
      if (state.chat !== null) this.unread.markRead(state.chat, id);
    });
    this.notifier = new Notifier((chat, id) => this.openAt(chat, id));
    this.typing = new Typing(send);
    this.drafts = new Drafts();
    this.jump = new Jump(() => {
      this.messages.requestEarlier();
      return this.messages.loadingEarlier;
    });
    window.addEventListener("languagechange", () => {
      this.listDrawn(this.pick);
      this.header();
      this.drawTitle();
    });
  }

  /** Frames of the features here; true when handled. */
  handle(frame) {
    if (frame.Type === "account" && frame.Command === "users") {
      this.directs.found(frame);
      return true;
    }
    if (frame.Type !== "chat") return false;
    switch (frame.Command) {
      case "direct":
        if (this.directs.answered(frame)) {
          const change = Number.isInteger(frame.Change) ? frame.Change : null;
          this.enterDirect(frame.Chat, Array.isArray(frame.Messages) ? frame.Messages : [], change);
        }
        return true;
      case "unread":
        this.unread.answered(frame);
        this.marker.check(); // the pointer is known now: the newest message may be read
        return true;
      case "read":
        this.unread.pointer(frame);
        return true;
      case "activity":
        this.activity(frame);
        return true;
      case "typing":
        this.typing.heard(frame);
        return true;
      default:
        return false;
    }
  }

  loggedIn() {
    this.unread.start();
    this.notifier.draw();
  }

  /** The person logged out: nothing of theirs stays. */
  forget() {
    this.unread.forget();
    this.drafts.forget();
    this.typing.reset();
    this.jump.cancel();
  }

  /** `chat` is open now, its newest page shown and its box empty. */
  entered(chat) {
    this.typing.reset();
    const draft = this.drafts.opened(chat);
    if (draft !== "") this.composer.restore({ text: draft, file: null });
    this.unread.opened(chat);
    this.marker.follow();
    this.jump.tryNow(chat, { atStart: this.messages.atStart });
    this.header();
  }

  /** No chat is open any more. */
  left() {
    this.typing.reset();
    this.drafts.closed();
  }

  /** An earlier page of the open chat was shown. */
  earlier() {
    this.unread.drawDivider();
    this.jump.tryNow(state.chat, { atStart: this.messages.atStart });
  }

  /** The open chat was deleted: what was in its box stays there, to be sent elsewhere. */
  chatDeleted(chat) {
    return this.drafts.chatDeleted(chat);
  }

  /** The message typed in `chat` went out: its draft is gone. */
  sent(chat) {
    this.drafts.sent(chat);
  }

  /** A live message of the open chat. */
  message(message, mine) {
    const chat = state.chat;
    if (typeof message.user === "string") this.typing.stopped(message.user);
    if (!Number.isInteger(message.id)) return;
    this.unread.message(chat, message, mine);
    if (!mine && document.hidden && (isDirect(chat) || mentions(message.text, state.me))) {
      this.notifier.show({
        title: chatLabel(chat), body: Notifier.messageBody(message.user, message), chat, id: message.id,
      });
    }
  }

  /** {"Type":"chat","Command":"activity",...}: a message in a chat that is not open here. */
  activity(frame) {
    this.unread.activity(frame);
    if (typeof frame.Chat !== "string" || typeof frame.User !== "string" || !Number.isInteger(frame.Id)) return;
    const direct = isDirect(frame.Chat);
    if (!direct && frame.Mention !== true) return;
    this.notifier.show({
      title: chatLabel(frame.Chat),
      body: direct ? t("notify.direct", { user: frame.User }) : t("notify.mention", { user: frame.User }),
      chat: frame.Chat,
      id: frame.Id,
    });
  }

  /** Open `chat` at message `id` (a notification was clicked). */
  openAt(chat, id) {
    this.jump.want(chat, id);
    if (chat === state.chat && state.choices.length === 0) {
      document.body.classList.add("in-chat");
      this.jump.tryNow(chat, { atStart: this.messages.atStart });
    } else {
      this.openChat(chat);
    }
  }

  /** The chat list was drawn (rooms); the direct chats and the badges follow. */
  listDrawn(pick) {
    this.pick = pick;
    renderDirectList(state.chats.filter((c) => c.direct === true), state.chat, pick);
    this.unread.decorate();
  }

  countsChanged() {
    this.unread.decorate();
    this.drawTitle();
  }

  /** A direct chat's heading names the other members. */
  header() {
    if (state.chat !== null && isDirect(state.chat)) $("chat-name").textContent = chatLabel(state.chat);
  }

  label(chat) {
    return chatLabel(chat);
  }

  /** "(3) room · Parley": the unread messages of every chat, and the open chat. */
  drawTitle() {
    const base = state.chat ? `${chatLabel(state.chat)} · Parley` : "Parley";
    const total = this.unread.total();
    document.title = total > 0 ? `(${total}) ${base}` : base;
  }
}

const LOGIN_CHAR = /[\p{L}\p{N}_.-]/u;
const WORD_CHAR = /[\p{L}\p{N}]/u;

/** The text mentions `login` (`@login`, as the server finds mentions: docs/protocol.md). */
export function mentions(text, login) {
  if (typeof text !== "string" || typeof login !== "string") return false;
  const lower = text.toLowerCase();
  const needle = `@${login.toLowerCase()}`;
  for (let at = lower.indexOf(needle); at !== -1; at = lower.indexOf(needle, at + 1)) {
    const before = at > 0 ? lower[at - 1] : "";
    const after = lower[at + needle.length] ?? "";
    if (!WORD_CHAR.test(before) && !LOGIN_CHAR.test(after)) return true;
  }
  return false;
}
