// Unread counts and read pointers: the server's numbers per chat (`unread`), kept fresh by
// `activity` and `read` pushes; badges on the chat list; the "New messages" divider; and
// the `read` request, sent once the newest message has really been on screen.

import { t } from "./i18n.js";
import { el } from "./render.js";
import { state } from "./state.js";
import { $ } from "./ui.js";

const REFRESH_GAP_MS = 1000; // `unread` is asked at most once a second

export class Unread {
  /** send(request) sends (false when offline); onChange() redraws what shows the counts. */
  constructor(send, onChange) {
    this.send = send;
    this.onChange = onChange;
    this.counts = new Map();  // chat -> {last, read, unread, mentions}
    this.known = false;       // an `unread` answer has come since the login
    this.sentRead = new Map(); // chat -> the highest Id this page asked `read` for
    this.lastAsked = 0;
    this.timer = null;
    this.dividerFor = null;   // the open chat whose divider waits for the counts
    this.dividerAfter = null; // the open chat's pointer when it was opened, if it had unread messages
  }

  /** After a login (also after a reconnect): the whole picture from the server. */
  start() {
    this.known = false;
    this.sentRead.clear();
    this.ask();
  }

  forget() {
    clearTimeout(this.timer);
    this.timer = null;
    this.counts.clear();
    this.known = false;
    this.sentRead.clear();
    this.onChange();
  }

  ask() {
    clearTimeout(this.timer);
    this.timer = null;
    this.lastAsked = Date.now();
    this.send({ Type: "chat", Command: "unread" });
  }

  /** Ask again soon: at once if the last ask was long enough ago, else a second after it. */
  refresh() {
    if (this.timer !== null) return;
    const wait = this.lastAsked + REFRESH_GAP_MS - Date.now();
    if (wait <= 0) this.ask();
    else this.timer = setTimeout(() => this.ask(), wait);
  }

  /** {"Type":"chat","Command":"unread","Chats":{...}}: replaces every count. */
  answered(frame) {
    if (frame.Status !== undefined || !frame.Chats || typeof frame.Chats !== "object") return;
    this.counts.clear();
    for (const [chat, c] of Object.entries(frame.Chats)) {
      if (c && typeof c === "object") {
        this.counts.set(chat, {
          last: num(c.last), read: num(c.read), unread: num(c.unread), mentions: num(c.mentions),
        });
      }
    }
    this.known = true;
    if (this.dividerFor !== null && this.dividerFor === state.chat) this.placeDivider();
    this.onChange();
  }

  /** {"Type":"chat","Command":"read","Chat":N,"Id":R}: this user's pointer (any tab) is at R. */
  pointer(frame) {
    if (frame.Status !== undefined || typeof frame.Chat !== "string" || !Number.isInteger(frame.Id)) return;
    const c = this.counts.get(frame.Chat);
    if (!c) return;
    c.read = Math.max(c.read, frame.Id);
    if (c.read >= c.last) {
      c.unread = 0;
      c.mentions = 0;
    } else {
      this.refresh(); // some are still after it: the server counts them exactly
    }
    this.onChange();
  }

  /** {"Type":"chat","Command":"activity",...}: a message in a chat not open here. */
  activity(frame) {
    if (typeof frame.Chat !== "string" || !Number.isInteger(frame.Id)) return;
    const c = this.entry(frame.Chat);
    if (frame.Id > c.last) {
      // Shown at once; the refresh makes it exact (pushes may stand for several messages).
      c.last = frame.Id;
      c.unread += 1;
      if (frame.Mention === true) c.mentions += 1;
    }
    this.refresh();
    this.onChange();
  }

  /** A live message in the open chat: counted by the server unless it is read meanwhile. */
  message(chat, message, mine) {
    const c = this.entry(chat);
    c.last = Math.max(c.last, message.id);
    if (mine) {
      this.markRead(chat, message.id); // what one writes oneself is read
    } else if (this.timer === null) {
      // Asked a second later: by then it is usually read (the view is at the bottom),
      // and the answer does not show it as unread for a moment.
      this.timer = setTimeout(() => this.ask(), REFRESH_GAP_MS);
    }
  }

  entry(chat) {
    let c = this.counts.get(chat);
    if (!c) {
      c = { last: 0, read: 0, unread: 0, mentions: 0 };
      this.counts.set(chat, c);
    }
    return c;
  }

  /** Unread messages in all the listed chats (for the title and the back button). */
  total({ except = null } = {}) {
    let sum = 0;
    for (const chat of state.chats) {
      if (chat.name !== except) sum += this.counts.get(chat.name)?.unread ?? 0;
    }
    return sum;
  }

  /** The newest message of `chat` (id) has been seen: move the pointer there. */
  markRead(chat, id) {
    const c = this.counts.get(chat);
    if (!this.known || !c) return; // the pointer is not known yet: the `unread` answer calls back
    if (id <= c.read || id <= (this.sentRead.get(chat) ?? 0)) return;
    if (this.send({ Type: "chat", Command: "read", Chat: chat, Id: id })) this.sentRead.set(chat, id);
  }

  /** A chat was opened: the divider goes above its first unread message (once the counts are known). */
  opened(chat) {
    this.dividerFor = chat;
    this.dividerAfter = null;
    if (this.known) this.placeDivider();
    this.refresh(); // pushes for it may have been cut short by opening it
  }

  /** The pointer as it was when the chat was opened: the divider stays there while it is open. */
  placeDivider() {
    const c = this.counts.get(this.dividerFor);
    this.dividerFor = null;
    this.dividerAfter = c && c.unread > 0 ? c.read : null;
    this.drawDivider();
  }

  /** Above the first message after the pointer (again when earlier pages are shown). */
  drawDivider() {
    $("message-list").querySelector(".unread-divider")?.remove();
    if (this.dividerAfter === null) return;
    const first = [...$("message-list").querySelectorAll(".msg:not(.mine)")]
      .find((node) => Number(node.dataset.id) > this.dividerAfter);
    if (!first) return;
    first.before(el("li", { className: "unread-divider", role: "separator" },
      el("span", { dataset: { i18n: "unread.divider" } }, t("unread.divider"))));
  }

  /** Badges on the chat buttons: the unread count, and an "@" for mentions of this user. */
  decorate() {
    for (const button of document.querySelectorAll("#chat-list .chat-item, #direct-list .chat-item")) {
      button.querySelector(".badges")?.remove();
      const c = this.counts.get(button.dataset.chat);
      if (!c || c.unread === 0) continue;
      button.append(badges(c.unread, c.mentions));
    }
    const back = $("back");
    back.querySelector(".badges")?.remove();
    const elsewhere = this.total({ except: state.chat });
    if (elsewhere > 0) back.append(badges(elsewhere, 0));
  }
}

function badges(unread, mentions) {
  const box = el("span", { className: "badges" });
  if (mentions > 0) {
    box.append(el("span", {
      className: "badge badge-mention", title: t("unread.mentionTitle", { n: mentions }),
      dataset: { count: String(mentions) },
    }, "@"));
  }
  box.append(el("span", {
    className: "badge badge-unread", title: t("unread.badgeTitle", { n: unread }),
    dataset: { count: String(unread) },
  }, unread > 99 ? "99+" : String(unread)));
  const said = [t("unread.badgeTitle", { n: unread })];
  if (mentions > 0) said.push(t("unread.mentionTitle", { n: mentions }));
  box.append(el("span", { className: "sr-only" }, said.join(", ")));
  return box;
}

function num(value) {
  return Number.isInteger(value) && value > 0 ? value : 0;
}

/**
 * Watches the newest message of the open chat: when it is on screen while the page is
 * visible, onSeen(id) is called (and again for each newer one).
 */
export class ReadMarker {
  constructor(onSeen) {
    this.onSeen = onSeen;
    this.list = $("message-list");
    this.target = null;
    this.onScreen = false;
    this.observer = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        if (entry.target === this.target) this.onScreen = mostlyShown(entry);
      }
      this.check();
    }, { root: $("messages"), threshold: [0, 0.25, 0.5, 0.75, 1] });
    new MutationObserver(() => this.follow()).observe(this.list, { childList: true });
    document.addEventListener("visibilitychange", () => this.check());
    // The observer reports crossings only: one missed while the list was being laid out
    // (a chat opened as the page switches views) would leave the newest message unread
    // until the next one. Once a second, the geometry itself is asked.
    setInterval(() => this.recheck(), 1000);
  }

  /** The newest message's place on screen, measured (not reported by the observer). */
  recheck() {
    if (!this.target || this.onScreen || document.visibilityState !== "visible") return;
    const root = $("messages").getBoundingClientRect();
    const box = this.target.getBoundingClientRect();
    const shown = Math.min(box.bottom, root.bottom) - Math.max(box.top, root.top);
    if (box.height > 0 && root.height > 0 &&
        (shown >= box.height / 2 || shown >= root.height / 2)) {
      this.onScreen = true;
      this.check();
    }
  }

  /** The newest message may have changed: watch it instead. */
  follow() {
    const last = this.list.lastElementChild;
    const newest = last && last.classList.contains("msg") ? last : null;
    if (newest === this.target) return;
    if (this.target) this.observer.unobserve(this.target);
    this.target = newest;
    this.onScreen = false;
    if (newest) this.observer.observe(newest);
  }

  check() {
    if (this.target && this.onScreen && document.visibilityState === "visible") {
      this.onSeen(Number(this.target.dataset.id));
    }
  }
}

/** Half of the message is in view, or it fills half the view (a tall image). */
function mostlyShown(entry) {
  if (!entry.isIntersecting) return false;
  const view = entry.rootBounds ? entry.rootBounds.height : 0;
  return entry.intersectionRatio >= 0.5 || (view > 0 && entry.intersectionRect.height >= view / 2);
}
