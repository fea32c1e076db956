// Changes to messages: replying, editing, removing and reacting (docs/protocol.md,
// "Editing, removing, reacting, replying"). The message menu (menu.js) and the composer
// start them; the `edit`, `remove` and `react` broadcasts and a reconnect's `Changed`
// list redraw the messages on screen and the quotes of them. The newest change number
// seen in the open chat is kept in state.change, where a reconnect resumes.

import { t } from "./i18n.js";
import { MessageMenu } from "./menu.js";
import * as S from "./statuses.js";
import { chatInfo, state } from "./state.js";
import { $, sameUser, setText, toast } from "./ui.js";

const PREVIEW_CHARS = 100; // as long as the server's reply quotes

export class Changes {
  /** send(request): false when offline; messages, composer: the views; openAt(chat, id): go to a message. */
  constructor({ send, messages, composer, openAt }) {
    this.send = send;
    this.messages = messages;
    this.composer = composer;
    this.openAt = openAt;
    this.context = null; // {kind: "reply" | "edit", message} shown above the composer
    this.edited = null; // the text of the last edit sent, given back if it is refused
    this.moderates = () => false; // the person moderates the open chat (moderation.js)
    this.menu = new MessageMenu(messages.list, (id) => this.actionsFor(id), (action, message, emoji) =>
      this.act(action, message, emoji));
    $("composer-context-cancel").addEventListener("click", () => this.cancel());
    this.composer.input.addEventListener("keydown", (event) => this.onKey(event));
    // Who reacted, on a touch screen (no hover): a long press on a chip says it.
    messages.list.addEventListener("contextmenu", (event) => {
      const chip = event.target.closest(".reaction");
      if (!chip) return;
      event.preventDefault();
      toast(chip.title, "info", 4000);
    });
    messages.list.addEventListener("click", (event) => {
      const quote = event.target.closest(".msg-quote");
      if (quote && state.chat !== null) this.openAt(state.chat, Number(quote.dataset.replyId));
      const chip = event.target.closest(".reaction");
      if (chip) this.react(Number(chip.closest(".msg").dataset.id), chip.dataset.emoji);
    });
  }

  /** Frames of changes; true when handled. */
  handle(frame) {
    if (frame.Type !== "chat" || !["edit", "remove", "react"].includes(frame.Command)) return false;
    if (frame.Status !== undefined) {
      if (frame.Command === "edit" && this.edited !== null) {
        // The text typed is not lost: back in the box, to send as a new message or drop.
        this.composer.restore({ text: this.edited, file: null });
        this.edited = null;
        this.composer.showError(() => S.changeError(frame));
      } else {
        toast(S.changeError(frame), "error");
      }
      return true;
    }
    // Of another chat, or of one being left (a choice of another chat is on its way).
    if (frame.Chat !== state.chat || state.choices.some((c) => c.chat !== state.chat)) return true;
    this.saw(frame.Change);
    const id = frame.Command === "edit" ? frame.Message?.id : frame.Id;
    const shown = this.messages.data.get(id);
    if (frame.Command === "edit" && frame.Message) {
      if (this.edited !== null && sameUser(frame.Message.user, state.me)) this.edited = null;
      this.show(frame.Message);
    }
    else if (frame.Command === "remove") this.show(tombstone(shown, id));
    else if (frame.Command === "react" && shown) this.show({ ...shown, reactions: frame.Reactions ?? {} });
    return true;
  }

  /** The answer to a reconnect's `choice` with `Changes`: each message's state now. */
  applyChanged(frame) {
    if (Array.isArray(frame.Changed)) {
      for (const message of frame.Changed) if (message && Number.isInteger(message.id)) this.show(message);
    }
    this.saw(frame.Change);
  }

  saw(change) {
    if (Number.isInteger(change) && (state.change === null || change > state.change)) state.change = change;
  }

  /** A message's new state: drawn again where it is, and in the quotes of replies to it. */
  show(message) {
    if (!message || !Number.isInteger(message.id)) return;
    this.messages.update(message);
    const quote = message.removed === true
      ? { id: message.id, removed: true }
      : { id: message.id, user: message.user, text: (message.text ?? "").slice(0, PREVIEW_CHARS) };
    for (const other of this.messages.data.values()) {
      if (other.reply && other.reply.id === message.id) this.messages.update({ ...other, reply: quote });
    }
    if (this.context !== null && this.context.message.id === message.id) {
      if (message.removed === true && this.context.kind === "edit") {
        // Removed while being edited: the text stays in the box, as a new message to be.
        this.context = null;
        $("composer-context").hidden = true;
        this.composer.showError(() => t("status.changeNotFound"));
      } else {
        this.context.message = message;
      }
    }
  }

  actionsFor(id) {
    const message = this.messages.data.get(id);
    if (!message || message.removed === true || state.chat === null) return null;
    const mine = sameUser(message.user, state.me);
    const owner = chatInfo(state.chat)?.owner;
    const owns = typeof owner === "string" && sameUser(owner, state.me);
    return { message, canEdit: mine, canRemove: mine || owns || this.moderates() };
  }

  act(action, message, emoji) {
    if (action === "reply") this.start("reply", message);
    else if (action === "edit") this.start("edit", message);
    else if (action === "react") this.react(message.id, emoji);
    else if (action === "remove" && window.confirm(t("chat.removeConfirm"))) {
      this.request({ Type: "chat", Command: "remove", Id: message.id });
    }
  }

  react(id, emoji) {
    if (Number.isInteger(id) && typeof emoji === "string") this.request({ Type: "chat", Command: "react", Id: id, Emoji: emoji });
  }

  request(frame) {
    if (!this.send(frame)) toast(t("connection.notConnected"), "error");
  }

  /** Reply to `message`, or edit it in the composer. */
  start(kind, message) {
    const input = this.composer.input;
    if (this.context?.kind === "edit") input.value = "";
    this.context = { kind, message };
    if (kind === "edit") {
      input.value = message.text ?? "";
      this.composer.autosize();
    }
    const bar = $("composer-context");
    bar.hidden = false;
    bar.dataset.kind = kind;
    setText($("composer-context-text"), kind === "edit"
      ? () => t("composer.editing")
      : () => t("composer.replyingTo", { user: message.user, text: preview(message) }));
    this.composer.focus();
  }

  cancel() {
    if (this.context?.kind === "edit") {
      this.composer.input.value = "";
      this.composer.autosize();
    }
    this.context = null;
    $("composer-context").hidden = true;
    setText($("composer-context-text"), "");
  }

  /** The id to reply to, or null. */
  get replyId() {
    return this.context?.kind === "reply" ? this.context.message.id : null;
  }

  get editing() {
    return this.context?.kind === "edit";
  }

  /** Enter in the composer while editing: the edit goes out (true: the box may be cleared). */
  sendEdit({ text }) {
    const id = this.context.message.id;
    if (!this.send({ Type: "chat", Command: "edit", Id: id, Text: text })) {
      this.composer.showError(() => t("connection.notConnected"));
      return false;
    }
    this.edited = text;
    this.context = null;
    $("composer-context").hidden = true;
    return true;
  }

  /** A message went out: the reply it carried is done. */
  sent() {
    if (this.context?.kind === "reply") this.cancel();
  }

  onKey(event) {
    if (event.key === "Escape" && this.context !== null) {
      event.preventDefault();
      this.cancel();
    } else if (event.key === "ArrowUp" && this.composer.input.value === "" && this.composer.file === null && !this.editing) {
      const last = [...this.messages.data.values()]
        .filter((m) => sameUser(m.user, state.me) && m.removed !== true)
        .reduce((a, b) => (a === null || b.id > a.id ? b : a), null);
      if (last === null) return;
      event.preventDefault();
      this.start("edit", last);
    }
  }
}

function tombstone(shown, id) {
  return shown ? { id, user: shown.user, date: shown.date, removed: true } : { id, removed: true };
}

function preview(message) {
  const text = (message.text ?? "").replace(/\s+/g, " ").trim();
  return text.length > 60 ? `${text.slice(0, 60)}…` : text || t("composer.imageOnly");
}
