// One draft per chat: what is typed in a chat's box stays with that chat when another
// is opened, and is back on return (also after a reload: sessionStorage, per tab, keyed
// by user and chat). Text left in the box of a chat that was deleted is "loose": it stays
// on screen and goes into the box of the next chat opened.

import { state } from "./state.js";
import { $ } from "./ui.js";

const PREFIX = "parley.draft:";

const session = {
  get(key) {
    try { return sessionStorage.getItem(key); } catch { return null; }
  },
  set(key, value) {
    try {
      if (value === null || value === "") sessionStorage.removeItem(key);
      else sessionStorage.setItem(key, value);
    } catch { /* storage refused: the drafts live in memory only */ }
  },
};

export class Drafts {
  constructor() {
    this.input = $("text-input");
    this.texts = new Map(); // storage key -> text
    this.chat = null;       // the chat whose box is on screen
    this.loose = "";        // text from a deleted chat, waiting for the next chat
    this.input.addEventListener("input", () => this.keep());
  }

  key(chat) {
    return `${PREFIX}${String(state.me ?? "").toLowerCase()}\n${chat}`;
  }

  /** The box changed: remember it for its chat. */
  keep() {
    const text = this.input.value;
    if (this.chat === null) {
      this.loose = text;
      return;
    }
    const key = this.key(this.chat);
    this.texts.set(key, text);
    session.set(key, text);
  }

  text(chat) {
    const key = this.key(chat);
    return this.texts.get(key) ?? session.get(key) ?? "";
  }

  /** `chat` is open now: its draft, or with the loose text added, to put in its (empty) box. */
  opened(chat) {
    this.chat = chat;
    let text = this.text(chat);
    if (this.loose !== "") {
      text = text === "" ? this.loose : `${text}\n${this.loose}`;
      this.loose = "";
      const key = this.key(chat);
      this.texts.set(key, text);
      session.set(key, text);
    }
    return text;
  }

  /** The message in the box went out: the chat has no draft now. */
  sent(chat) {
    const key = this.key(chat);
    this.texts.delete(key);
    session.set(key, null);
  }

  /** The open chat was deleted: its draft is loose now; returns it (to keep on screen). */
  chatDeleted(chat) {
    const text = this.chat === chat ? this.input.value : "";
    this.sent(chat);
    this.chat = null;
    this.loose = text;
    return text;
  }

  /** No chat is open (and no text to keep). */
  closed() {
    this.chat = null;
  }

  /** Logged out: the drafts kept in this tab are forgotten. */
  forget() {
    try {
      for (const key of Object.keys(sessionStorage)) if (key.startsWith(PREFIX)) sessionStorage.removeItem(key);
    } catch { /* nothing stored */ }
    this.texts.clear();
    this.chat = null;
    this.loose = "";
  }
}
