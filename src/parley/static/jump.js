// Going to one message of the open chat (from a notification): scroll it into view and
// highlight it, loading earlier pages first when it is older than what is shown.

import { $ } from "./ui.js";

export class Jump {
  /** requestEarlier(): asks for the page before the oldest shown; false when it cannot. */
  constructor(requestEarlier) {
    this.requestEarlier = requestEarlier;
    this.target = null; // {chat, id} still to be shown
  }

  /** Show message `id` of `chat` once that chat is open and the message is loaded. */
  want(chat, id) {
    this.target = { chat, id };
  }

  cancel() {
    this.target = null;
  }

  /** The open chat or its history changed: show the target if it is there now. */
  tryNow(chat, { atStart = false } = {}) {
    const target = this.target;
    if (target === null || target.chat !== chat) return;
    const node = $("message-list").querySelector(`.msg[data-id="${target.id}"]`);
    if (node) {
      this.target = null;
      node.scrollIntoView({ block: "center" });
      // Marked until another message is gone to (the mark fades out: style.css).
      for (const old of $("message-list").querySelectorAll(".msg.highlight")) old.classList.remove("highlight");
      node.classList.add("highlight");
      return;
    }
    const oldest = $("message-list").querySelector(".msg");
    const olderThanShown = oldest === null || Number(oldest.dataset.id) > target.id;
    // Older than what is shown: fetch the page before; otherwise it is gone (removed).
    if (!olderThanShown || atStart || !this.requestEarlier()) this.target = null;
  }
}
