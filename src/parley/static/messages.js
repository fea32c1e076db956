// The history of the chosen chat: ordered by id, each message shown once.

import { t } from "./i18n.js";
import { $, openLightbox, sameUser, setText } from "./ui.js";
import { daySeparator, el, messageNode, parseDate, relabelMessages } from "./render.js";
import * as S from "./statuses.js";

const NEAR_BOTTOM_PX = 120;
const NEAR_TOP_PX = 150;
// A busy chat left open for hours: keep the page light by dropping the oldest
// messages while the reader is at the bottom (scrolling up loads them again).
const MAX_SHOWN = 600;
// Messages from one person less than this apart are grouped under one name and time.
const GROUP_GAP_MS = 5 * 60 * 1000;
const KEEP_SHOWN = 400;

export class MessageView {
  /**
   * onNeedEarlier(before): called when the person scrolls near the top; onNeedLater(after):
   * near the bottom of a chat opened at an old message; onJumpLatest(): "jump to the latest"
   * there. Both "need" callbacks return true when a request went out.
   */
  constructor(onNeedEarlier, { onNeedLater = () => false, onJumpLatest = () => {} } = {}) {
    this.scroller = $("messages");
    this.list = $("message-list");
    this.unsent = $("unsent-list");
    this.status = $("history-status");
    this.jump = $("jump-bottom");
    this.onNeedEarlier = onNeedEarlier;
    this.onNeedLater = onNeedLater;
    this.onJumpLatest = onJumpLatest;
    // Opened at an old message (a search result): newer messages exist below what is shown,
    // loaded as the person scrolls down; live messages are not shown until then.
    this.behind = false;
    this.loadingLater = false;
    this.ids = new Set();
    this.data = new Map(); // id -> the message as last received (its current state)
    this.me = null;
    this.chat = null;
    this.atStart = false;
    this.loadingEarlier = false;
    this.unsentEntries = [];

    this.pinned = true; // the view follows new content at the bottom
    this.scroller.addEventListener("scroll", () => this.onScroll(), { passive: true });
    // An image that finishes loading grows the list: stay at the bottom if we were there.
    this.list.addEventListener("load", () => {
      if (this.pinned) this.scrollToBottom();
    }, true);
    this.jump.addEventListener("click", () => {
      if (this.behind) this.onJumpLatest();
      else this.scrollToBottom();
    });
    this.list.addEventListener("click", (event) => {
      const button = event.target.closest(".msg-image-button");
      if (!button) return;
      const img = button.querySelector("img");
      openLightbox(img.getAttribute("src"), img.alt);
    });
  }

  /** Start showing `chat` with its newest page of messages. */
  reset(chat, me, messages) {
    this.chat = chat;
    this.me = me;
    this.ids.clear();
    this.data.clear();
    this.atStart = false;
    this.loadingEarlier = false;
    this.behind = false;
    this.loadingLater = false;
    this.list.replaceChildren();
    this.setStatus(null);
    this.jump.hidden = true;
    $("empty-state").hidden = true;
    this.insert(messages);
    this.scrollToBottom();
    this.fillScreen();
  }

  clear() {
    this.chat = null;
    this.ids.clear();
    this.data.clear();
    this.list.replaceChildren();
    this.setStatus(null);
    this.jump.hidden = true;
    $("empty-state").hidden = false;
  }

  get newestId() {
    // Day separators always come before a message, so the last row is the newest message.
    const last = this.list.lastElementChild;
    return last && last.classList.contains("msg") ? Number(last.dataset.id) : null;
  }

  get oldestId() {
    const first = this.list.querySelector(".msg");
    return first ? Number(first.dataset.id) : null;
  }

  /** New messages at the bottom (live, or missed while disconnected). */
  append(messages, { mine = false } = {}) {
    const stick = mine || this.isNearBottom();
    const added = this.insert(messages);
    if (added === 0) return;
    if (stick) {
      if (this.ids.size > MAX_SHOWN) this.trimOldest(this.ids.size - KEEP_SHOWN);
      this.scrollToBottom();
    } else {
      this.jump.hidden = false;
    }
  }

  /** Whether newer messages exist than the newest shown (the chat was opened "around"). */
  setBehind(behind) {
    this.behind = behind;
    this.loadingLater = false;
    // The same button: "jump to the latest" here, "new messages" otherwise (i18n.js fills it).
    this.jump.dataset.i18n = behind ? "chat.jumpLatest" : "chat.newMessages";
    this.jump.textContent = behind ? t("chat.jumpLatest") : t("chat.newMessages");
    if (behind) this.jump.hidden = false;
  }

  /** A live message arrived while newer ones are not loaded: offer the way down. */
  newerBelow() {
    this.jump.hidden = false;
  }

  /** The next newer page of a chat opened "around" a message. */
  appendLater(messages) {
    this.loadingLater = false;
    const before = this.scroller.scrollTop;
    this.insert(messages);
    this.scroller.scrollTop = before;
  }

  /** An older page, keeping what the person is looking at in place. */
  prepend(messages) {
    this.loadingEarlier = false;
    if (messages.length === 0) {
      this.atStart = true;
      const chat = this.chat;
      this.setStatus(() => t("chat.beginning", { chat }));
      return;
    }
    this.setStatus(null);
    const before = this.scroller.scrollHeight - this.scroller.scrollTop;
    this.insert(messages);
    this.scroller.scrollTop = this.scroller.scrollHeight - before;
    this.fillScreen();
  }

  /** Insert messages in id order, skipping ones already shown; returns how many were new. */
  insert(messages) {
    const fresh = messages
      .filter((m) => m && Number.isInteger(m.id) && !this.ids.has(m.id))
      .sort((a, b) => a.id - b.id);
    if (fresh.length === 0) return 0;
    const oldest = this.oldestId;
    const newest = this.newestId;
    const nodes = fresh.map((m) => messageNode(m, this.me));
    for (const m of fresh) {
      this.ids.add(m.id);
      this.data.set(m.id, m);
    }
    if (newest === null || fresh[0].id > newest) {
      this.list.append(...nodes);
    } else if (fresh[fresh.length - 1].id < oldest) {
      this.list.prepend(...nodes);
    } else {
      fresh.forEach((m, i) => this.list.insertBefore(nodes[i], this.firstAfter(m.id)));
    }
    this.fixDaySeparators();
    return fresh.length;
  }

  trimOldest(count) {
    const nodes = this.list.querySelectorAll(".msg");
    for (let i = 0; i < count && i < nodes.length; i++) {
      this.ids.delete(Number(nodes[i].dataset.id));
      this.data.delete(Number(nodes[i].dataset.id));
      nodes[i].remove();
    }
    this.atStart = false;
    this.setStatus(null);
    this.fixDaySeparators();
  }

  firstAfter(id) {
    // Common cases first: appending at the end or prepending at the start.
    const nodes = this.list.querySelectorAll(".msg");
    if (nodes.length === 0) return null;
    if (Number(nodes[nodes.length - 1].dataset.id) < id) return null;
    for (const node of nodes) {
      if (Number(node.dataset.id) > id) return node;
    }
    return null;
  }

  /** Day headings above each day's first message, and runs of one person's messages grouped. */
  fixDaySeparators() {
    for (const sep of this.list.querySelectorAll(".day-separator")) sep.remove();
    let previousDay = null;
    let previous = null;
    for (const node of [...this.list.querySelectorAll(".msg")]) {
      const day = node.dataset.day;
      const newDay = Boolean(day) && day !== previousDay;
      if (newDay) {
        const date = parseDate(node.querySelector("time")?.getAttribute("datetime"));
        if (date) this.list.insertBefore(daySeparator(date), node);
      }
      if (day) previousDay = day;
      node.classList.toggle("continued", !newDay && continues(previous, node));
      previous = node;
    }
  }

  /** Messages kept but not stored yet (outbox entries), shown below the history. */
  showUnsent(entries) {
    const stick = this.isNearBottom();
    this.unsentEntries = entries;
    this.unsent.replaceChildren(...entries.map((entry) => {
      const bubble = el("div", { className: "msg-bubble" },
        el("div", { className: "msg-meta" }, el("span", { className: "msg-unsent-label" }, S.unsentLabel())));
      if (entry.file) bubble.append(el("div", { className: "msg-text msg-unsent-file" }, S.unsentImage(entry.file)));
      if (entry.text) bubble.append(el("div", { className: "msg-text" }, entry.text));
      return el("li", { className: "msg mine unsent", dataset: { nonce: entry.payload.Nonce } }, bubble);
    }));
    if (stick) this.scrollToBottom();
  }

  /** The line above the history (null hides it); `text` may be a function (see setText). */
  setStatus(text) {
    this.status.hidden = text === null;
    setText(this.status, text);
  }

  /** A shown message has a new state (edited, removed, reacted to): drawn again in place. */
  update(message) {
    const node = this.nodeOf(message.id);
    if (!node) return;
    this.data.set(message.id, message);
    const fresh = messageNode(message, this.me);
    for (const kept of ["continued", "highlight"]) fresh.classList.toggle(kept, node.classList.contains(kept));
    node.replaceWith(fresh);
  }

  nodeOf(id) {
    return this.list.querySelector(`.msg[data-id="${Number(id)}"]`);
  }

  /** The language changed: times, day headings and labels drawn again. */
  relabel() {
    for (const message of this.data.values()) this.update(message);
    relabelMessages(this.list);
    this.fixDaySeparators();
    const stick = this.isNearBottom();
    this.showUnsent(this.unsentEntries);
    if (stick) this.scrollToBottom();
  }

  isNearBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_BOTTOM_PX;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.pinned = true;
    this.jump.hidden = true;
  }

  onScroll() {
    this.pinned = this.isNearBottom() && !this.behind;
    if (this.pinned) this.jump.hidden = true;
    if (this.behind && this.isNearBottom() && !this.loadingLater && this.newestId !== null) {
      this.loadingLater = this.onNeedLater(this.newestId);
    }
    if (this.scroller.scrollTop < NEAR_TOP_PX) this.requestEarlier();
  }

  /** Load older pages until the list overflows (so there is something to scroll). */
  fillScreen() {
    if (this.scroller.scrollHeight <= this.scroller.clientHeight + NEAR_TOP_PX) this.requestEarlier();
  }

  requestEarlier() {
    if (this.chat === null || this.atStart || this.loadingEarlier) return;
    if (this.oldestId === null) {
      this.prepend([]);
      return;
    }
    if (this.onNeedEarlier(this.oldestId)) {
      this.loadingEarlier = true;
      this.setStatus(() => t("chat.loadingEarlier"));
    }
  }

  /** Forget an unanswered `earlier` request (e.g. the connection dropped). */
  cancelEarlier() {
    if (this.loadingEarlier) {
      this.loadingEarlier = false;
      this.setStatus(null);
    }
  }
}


/** `node` is by the same person as `previous`, within a few minutes after it. */
function continues(previous, node) {
  if (previous === null || !sameUser(previous.dataset.user, node.dataset.user)) return false;
  const gap = Number(node.dataset.time) - Number(previous.dataset.time);
  return previous.dataset.time !== "" && node.dataset.time !== "" && gap >= 0 && gap < GROUP_GAP_MS;
}
