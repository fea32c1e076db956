// Page-level pieces: views, banner, toasts, dialogs, chat list, online list.

import { t } from "./i18n.js";
import { el } from "./render.js";

export const $ = (id) => document.getElementById(id);

// ---- texts that follow the language ------------------------------------------

// Elements whose text was given as a function: drawn again when the language changes.
const liveTexts = new Map();
let lastBanner = null; // showBanner's arguments, to draw it again

/** Sets `node`'s text: a string, null (empty), or a function giving it in the current language. */
export function setText(node, text) {
  if (typeof text === "function") {
    liveTexts.set(node, text);
    node.textContent = text();
  } else {
    liveTexts.delete(node);
    node.textContent = text ?? "";
  }
}

/** `text` as a string now (it may be a function, see setText). */
export function textOf(text) {
  return typeof text === "function" ? text() : text;
}

window.addEventListener("languagechange", () => {
  for (const [node, render] of liveTexts) node.textContent = render();
  if (!$("banner").hidden && lastBanner !== null) showBanner(...lastBanner);
});

const VIEWS = ["loading", "auth", "app"];

export function showView(name) {
  for (const view of VIEWS) $(`view-${view}`).hidden = view !== name;
  document.body.dataset.view = name;
}

// ---- connection banner -------------------------------------------------

/** The banner; `text` and `action.label` may be functions, to follow the language. */
export function showBanner(text, { kind = "warn", action = null } = {}) {
  lastBanner = [text, { kind, action }];
  const banner = $("banner");
  banner.replaceChildren(el("span", { className: "banner-text" }, textOf(text)));
  if (action) {
    const button = el("button", { type: "button", className: "banner-action" }, textOf(action.label));
    button.addEventListener("click", action.onClick);
    banner.append(button);
  }
  banner.className = `banner banner-${kind}`;
  banner.hidden = false;
}

export function hideBanner() {
  $("banner").hidden = true;
}

// ---- toasts ---------------------------------------------------------------

export function toast(text, kind = "info", ms = 6000) {
  const node = el("div", { className: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" }, text);
  const close = el("button", { type: "button", className: "toast-close", "aria-label": t("ui.dismiss") }, "×");
  close.addEventListener("click", () => node.remove());
  node.append(close);
  $("toasts").append(node);
  setTimeout(() => node.remove(), ms);
  return node;
}

// ---- dialogs -------------------------------------------------------------

export function setupDialogs() {
  for (const dialog of document.querySelectorAll("dialog")) {
    for (const button of dialog.querySelectorAll("[data-close]")) {
      button.addEventListener("click", () => dialog.close());
    }
    // A click on the backdrop (outside the content box) closes the dialog.
    dialog.addEventListener("click", (event) => {
      if (event.target === dialog) dialog.close();
    });
  }
}

export function openLightbox(src, alt) {
  const img = $("lightbox-img");
  img.src = src;
  img.alt = alt;
  $("lightbox-link").href = src;
  $("lightbox").showModal();
}

// ---- chat list -----------------------------------------------------------

/**
 * chats: [{name, closed, owner}], current: chosen chat name or null,
 * me: the logged-in user, onPick(name): called when a chat is clicked.
 */
export function renderChatList(chats, current, me, onPick) {
  const list = $("chat-list");
  const items = chats.map((chat) => {
    const mine = chat.owner !== null && chat.owner !== undefined && sameUser(chat.owner, me);
    const button = el("button", {
      type: "button",
      className: "chat-item",
      "aria-current": chat.name === current ? "true" : null,
      dataset: { chat: chat.name },
    },
    el("span", { className: "chat-avatar", "aria-hidden": "true" }, initial(chat.name)),
    el("span", { className: "chat-item-name" }, chat.name),
    chat.closed ? lockIcon() : null,
    mine ? el("span", { className: "chat-owner", title: t("chat.ownerTitle") }, t("chat.owner")) : null);
    button.addEventListener("click", () => onPick(chat.name));
    return el("li", {}, button);
  });
  if (items.length === 0) items.push(el("li", { className: "muted chat-list-empty" }, t("chat.noChats")));
  list.replaceChildren(...items);
}

export function sameUser(a, b) {
  return typeof a === "string" && typeof b === "string" && a.toLowerCase() === b.toLowerCase();
}

const SVG = "http://www.w3.org/2000/svg";

function lockIcon() {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", "icon-svg");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", "M6 11h12v10H6zM8.5 11V7.5a3.5 3.5 0 0 1 7 0V11");
  svg.append(path);
  return el("span", { className: "chat-lock", title: t("chat.closedTitle") },
    svg, el("span", { className: "sr-only" }, t("chat.closed")));
}

function initial(name) {
  const first = [...name.trim()][0];
  return first ? first.toUpperCase() : "#";
}

// ---- who is online -------------------------------------------------------

export class OnlineView {
  // Deltas touch one row each, so a room with thousands online stays cheap.
  constructor() {
    this.sorted = [];        // names, in display order
    this.rows = new Map();   // name -> <li>
    this.list = $("online-list");
    this.decorate = () => {}; // decorate(row, name): more on a row (moderation.js: role badges)
    $("online-toggle").addEventListener("click", () => {
      const panel = $("online-panel");
      panel.hidden = !panel.hidden;
      $("online-toggle").setAttribute("aria-expanded", String(!panel.hidden));
    });
  }

  reset(names = null) {
    this.sorted = [...new Set(names ?? [])].sort(compareNames);
    this.rows = new Map(this.sorted.map((name) => [name, this.row(name)]));
    const fragment = document.createDocumentFragment();
    for (const name of this.sorted) fragment.append(this.rows.get(name));
    this.list.replaceChildren(fragment);
    $("online-panel").classList.remove("stale");
    this.updateCount();
  }

  /** The connection is gone: the list is no longer known to be true. */
  stale() {
    $("online-panel").classList.add("stale");
    setText($("online-toggle"), () => t("chat.onlineStale"));
  }

  add(name) {
    if (this.rows.has(name)) return;
    const at = insertionPoint(this.sorted, name);
    const row = this.row(name);
    this.list.insertBefore(row, this.rows.get(this.sorted[at]) ?? null);
    this.sorted.splice(at, 0, name);
    this.rows.set(name, row);
    this.updateCount();
  }

  row(name) {
    const row = onlineRow(name);
    this.decorate(row, name);
    return row;
  }

  /** What decorate() adds has changed: every row again. */
  redecorate() {
    for (const [name, row] of this.rows) this.decorate(row, name);
  }

  remove(name) {
    const row = this.rows.get(name);
    if (!row) return;
    row.remove();
    this.rows.delete(name);
    this.sorted.splice(this.sorted.indexOf(name), 1);
    this.updateCount();
  }

  hide() {
    this.sorted = [];
    this.rows.clear();
    this.list.replaceChildren();
    $("online-toggle").hidden = true;
    $("online-panel").hidden = true;
  }

  updateCount() {
    const toggle = $("online-toggle");
    setText(toggle, () => t("chat.online", { n: this.sorted.length }));
    toggle.hidden = false;
  }
}

function compareNames(a, b) {
  return a.localeCompare(b);
}

function insertionPoint(sorted, name) {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareNames(sorted[mid], name) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function onlineRow(name) {
  // A name is a button: it opens a direct chat with that person (directs.js).
  return el("li", { className: "online-user" }, el("span", { className: "dot", "aria-hidden": "true" }),
    el("button", { type: "button", className: "online-name", dataset: { user: name }, "aria-describedby": "online-hint" }, name));
}

// ---- the server's limits ---------------------------------------------------

/** Size the form fields to what the server accepts (see state.js `limits`). */
export function applyLimits(limits) {
  const lengths = {
    "auth-login": limits.max_login,
    "auth-password": limits.max_password,
    "text-input": limits.max_text,
    "create-name": limits.max_chat_name,
    "create-password": limits.max_password,
    "password-input": limits.max_password,
    "account-old": limits.max_password,
    "account-new": limits.max_password,
  };
  for (const [id, length] of Object.entries(lengths)) $(id).maxLength = length;
  $("file-input").accept = limits.image_types.join(",");
}
