// The menu of one message: reply, edit, remove, and a small picker of emoji to react
// with (common ones and the ones used last, remembered in localStorage). It opens from
// the "⋯" button of a message (by mouse, by keyboard, or a tap) or a long press on it.
// The same menu, with other items, serves moderation (moderation.js): show() puts any
// list of items at an anchor, and `extra(message)` adds items after a message's own.

import { t } from "./i18n.js";
import { el } from "./render.js";
import { storage } from "./state.js";
import { $ } from "./ui.js";

const COMMON = ["👍", "❤️", "😂", "🎉", "😮", "😢", "🙏", "👀"];
const RECENT_KEY = "parley.recentEmoji";
const RECENT_MAX = 6;
const PICKER_MAX = 10;
const LONG_PRESS_MS = 500;
const LONG_PRESS_SLOP_PX = 10; // a finger moving further is scrolling, not pressing

/** The emoji used last, newest first. */
export function recentEmoji() {
  try {
    const list = JSON.parse(storage.get(RECENT_KEY) ?? "[]");
    return Array.isArray(list) ? list.filter((e) => typeof e === "string").slice(0, RECENT_MAX) : [];
  } catch {
    return [];
  }
}

function rememberEmoji(emoji) {
  const list = [emoji, ...recentEmoji().filter((e) => e !== emoji)].slice(0, RECENT_MAX);
  storage.set(RECENT_KEY, JSON.stringify(list));
}

export class MessageMenu {
  /**
   * list: the message list; actionsFor(id) -> {message, canEdit, canRemove} or null;
   * act(action, message, emoji): "reply" | "edit" | "remove" | "react".
   */
  constructor(list, actionsFor, act) {
    this.list = list;
    this.actionsFor = actionsFor;
    this.act = act;
    this.node = $("msg-menu");
    this.opener = null;
    this.pressTimer = null;
    this.extra = () => []; // more items for a message's menu: extra(message) -> [button]
    list.addEventListener("click", (event) => {
      const button = event.target.closest(".msg-menu-button");
      if (button) this.open(button.closest(".msg"), button);
    });
    list.addEventListener("pointerdown", (event) => {
      if (event.pointerType !== "touch" || event.target.closest("button, a")) return;
      const item = event.target.closest(".msg:not(.removed):not(.unsent)");
      if (!item) return;
      this.pressAt = { x: event.clientX, y: event.clientY };
      this.pressTimer = setTimeout(() => this.open(item, item.querySelector(".msg-menu-button")), LONG_PRESS_MS);
    });
    for (const type of ["pointerup", "pointercancel"]) {
      list.addEventListener(type, () => clearTimeout(this.pressTimer), { passive: true });
    }
    list.addEventListener("pointermove", (event) => {
      const at = this.pressAt;
      if (at && Math.hypot(event.clientX - at.x, event.clientY - at.y) > LONG_PRESS_SLOP_PX) clearTimeout(this.pressTimer);
    }, { passive: true });
    this.node.addEventListener("keydown", (event) => this.onKey(event));
    document.addEventListener("pointerdown", (event) => {
      if (!this.node.hidden && !this.node.contains(event.target) && !event.target.closest(".msg-menu-button")) this.close();
    });
    $("messages").addEventListener("scroll", () => this.close(), { passive: true });
  }

  open(item, opener) {
    if (!item) return;
    const actions = this.actionsFor(Number(item.dataset.id));
    if (actions === null) return;
    const { message } = actions;
    const choose = (action, emoji) => {
      this.close();
      if (emoji) rememberEmoji(emoji);
      this.act(action, message, emoji);
    };
    const emoji = [...new Set([...recentEmoji(), ...COMMON])].slice(0, PICKER_MAX);
    const picker = el("div", { className: "msg-menu-emoji", role: "group", "aria-label": t("chat.react") },
      ...emoji.map((e) => menuItem(e, () => choose("react", e), { label: t("chat.reactWith", { emoji: e }) })));
    const items = [menuItem(t("chat.reply"), () => choose("reply"))];
    if (actions.canEdit) items.push(menuItem(t("chat.edit"), () => choose("edit")));
    if (actions.canRemove) items.push(menuItem(t("chat.remove"), () => choose("remove"), { danger: true }));
    items.push(...this.extra(message));
    this.show([picker, ...items], opener ?? item, t("chat.messageActions", { user: message.user }), { align: "end" });
  }

  /**
   * Shows `items` (buttons and groups of them, see menuItem) by `anchor`, labelled `label`,
   * under it from its left edge ("start", for a name) or ending at its right one ("end", for
   * the "⋯" button); the keys, the placing and the closing are those of a message's menu.
   */
  show(items, anchor, label, { align = "start" } = {}) {
    this.close();
    this.node.replaceChildren(...items);
    this.node.setAttribute("aria-label", label);
    this.node.hidden = false;
    this.opener = anchor.matches("button") ? anchor : null;
    this.opener?.setAttribute("aria-expanded", "true");
    this.place(anchor, align);
    this.node.querySelector("button")?.focus();
  }

  place(anchor, align) {
    const rect = anchor.getBoundingClientRect();
    const menu = this.node.getBoundingClientRect();
    const x = align === "start" ? rect.left : rect.right - menu.width;
    const left = Math.max(8, Math.min(x, window.innerWidth - menu.width - 8));
    const below = rect.bottom + 4;
    const top = below + menu.height > window.innerHeight - 8 ? Math.max(8, rect.top - menu.height - 4) : below;
    this.node.style.left = `${left}px`;
    this.node.style.top = `${top}px`;
  }

  close() {
    if (this.node.hidden) return;
    this.node.hidden = true;
    this.node.replaceChildren();
    const opener = this.opener;
    this.opener = null;
    opener?.setAttribute("aria-expanded", "false");
    if (opener && opener.isConnected && this.node.contains(document.activeElement) === false) opener.focus({ preventScroll: true });
  }

  onKey(event) {
    if (event.key === "Escape") {
      event.preventDefault();
      this.close();
      return;
    }
    if (!["ArrowDown", "ArrowUp", "ArrowLeft", "ArrowRight"].includes(event.key)) return;
    event.preventDefault();
    const buttons = [...this.node.querySelectorAll("button")];
    const at = buttons.indexOf(document.activeElement);
    const step = event.key === "ArrowDown" || event.key === "ArrowRight" ? 1 : -1;
    buttons[(at + step + buttons.length) % buttons.length].focus();
  }
}

/** One item of the menu: a button with `text`, calling onClick. */
export function menuItem(text, onClick, { label = null, danger = false } = {}) {
  const button = el("button", {
    type: "button", role: "menuitem", className: danger ? "danger" : null, "aria-label": label,
  }, text);
  button.addEventListener("click", onClick);
  return button;
}
