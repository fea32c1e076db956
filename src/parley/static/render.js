// Building DOM for chat content. User data only ever reaches the page as
// text nodes or as attributes checked here; never as HTML.

import { dateTime, day, dayTime, number, t, time } from "./i18n.js";

/** Create an element: el("a", {className: "x", href: "..."}, child, "text", ...). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "className") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

const URL_PATTERN = /\bhttps?:\/\/[^\s<>"'`]+/gi;
const TRAILING_PUNCTUATION = /[.,;:!?)\]}'"»]+$/;

/** The href for a link found in text, or null when it is not a plain http(s) URL. */
export function safeHref(candidate) {
  let url;
  try {
    url = new URL(candidate);
  } catch {
    return null;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return null;
  return url.href;
}

/** Text as nodes: plain text nodes, with http(s) URLs turned into links. */
export function linkify(text) {
  const fragment = document.createDocumentFragment();
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    let raw = match[0];
    const trailing = raw.match(TRAILING_PUNCTUATION);
    if (trailing) raw = raw.slice(0, raw.length - trailing[0].length);
    const href = raw ? safeHref(raw) : null;
    if (!href) continue;
    fragment.append(document.createTextNode(text.slice(last, match.index)));
    fragment.append(el("a", { href, target: "_blank", rel: "noopener noreferrer nofollow" }, raw));
    last = match.index + raw.length;
  }
  fragment.append(document.createTextNode(text.slice(last)));
  return fragment;
}

/** Only images the server stores are shown: same-origin paths under /images/. */
export function safeImageSrc(path) {
  if (typeof path !== "string" || !path.startsWith("/images/") || path.includes("\\")) return null;
  const url = new URL(path, window.location.origin);
  if (url.origin !== window.location.origin || !url.pathname.startsWith("/images/")) return null;
  return url.pathname;
}

export function parseDate(iso) {
  if (typeof iso !== "string") return null;
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? null : date;
}

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/** Local time of a message, in the chosen language: "14:05" today, "3 Mar, 14:05" on other days. */
export function shortTime(date, now = new Date()) {
  return sameDay(date, now) ? time(date) : dayTime(date);
}

/** The day heading shown above the first message of each local day. */
export function dayLabel(date, now = new Date()) {
  if (sameDay(date, now)) return t("chat.today");
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  if (sameDay(date, yesterday)) return t("chat.yesterday");
  return day(date);
}

export function dayKey(date) {
  return `${date.getFullYear()}-${date.getMonth()}-${date.getDate()}`;
}

/** One message as a list item. `me` is the signed-in user: their messages and reactions are marked. */
export function messageNode(message, me) {
  const date = parseDate(message.date);
  const user = String(message.user ?? "");
  const mine = sameLogin(user, me);
  let className = mine ? "msg mine" : "msg";
  if (message.removed === true) className += " removed";
  const item = el("li", {
    className,
    dataset: { id: String(message.id), day: date ? dayKey(date) : "", user, time: date ? String(date.getTime()) : "" },
  });
  const meta = el("div", { className: "msg-meta" }, el("span", { className: "msg-user" }, user));
  if (date) {
    meta.append(el("time", {
      className: "msg-time", datetime: date.toISOString(), title: dateTime(date),
    }, shortTime(date)));
  }
  const bubble = el("div", { className: "msg-bubble" }, meta);
  item.append(bubble);
  if (message.removed === true) {
    bubble.append(el("div", { className: "msg-text msg-removed" }, t("chat.messageRemoved")));
    return item;
  }
  if (message.reply && Number.isInteger(message.reply.id)) bubble.append(quoteNode(message.reply));
  const src = safeImageSrc(message.image);
  if (src) {
    const alt = t("chat.imageFrom", { user });
    const img = el("img", { className: "msg-image", src, alt, loading: "lazy" });
    bubble.append(el("button", { type: "button", className: "msg-image-button", title: t("chat.openFullSize") }, img));
  }
  if (typeof message.text === "string" && message.text !== "") {
    bubble.append(el("div", { className: "msg-text" }, linkify(message.text)));
  }
  const edited = parseDate(message.edited);
  if (edited) {
    bubble.append(el("div", { className: "msg-edited", title: t("chat.editedAt", { time: dateTime(edited) }) },
      t("chat.edited")));
  }
  const reactions = reactionsNode(message.reactions, me);
  if (reactions) bubble.append(reactions);
  item.append(el("button", {
    type: "button", className: "msg-menu-button", "aria-haspopup": "menu",
    "aria-label": t("chat.messageActions", { user }),
  }, "⋯"));
  return item;
}

/** The quote of the message replied to: its author and the start of its text, or that it is removed. */
export function quoteNode(reply) {
  const button = el("button", { type: "button", className: "msg-quote", dataset: { replyId: String(reply.id) } });
  if (reply.removed === true) {
    button.append(el("span", { className: "msg-quote-text" }, t("chat.messageRemoved")));
  } else {
    button.append(el("span", { className: "msg-quote-user" }, String(reply.user ?? "")),
      el("span", { className: "msg-quote-text" }, String(reply.text ?? "")));
  }
  button.title = t("chat.goToOriginal");
  return button;
}

/** Reaction chips: "👍 2", pressed when `me` is among who reacted; the names in the tooltip. */
function reactionsNode(reactions, me) {
  if (!reactions || typeof reactions !== "object") return null;
  const entries = Object.entries(reactions).filter(([, who]) => Array.isArray(who) && who.length > 0);
  if (entries.length === 0) return null;
  return el("div", { className: "msg-reactions" }, ...entries.map(([emoji, who]) => {
    const pressed = who.some((login) => sameLogin(login, me));
    return el("button", {
      type: "button", className: pressed ? "reaction mine" : "reaction", dataset: { emoji },
      "aria-pressed": pressed ? "true" : "false",
      title: t("chat.reactedBy", { emoji, users: who.join(", ") }),
    }, el("span", { className: "reaction-emoji" }, emoji), el("span", { className: "reaction-count" }, number(who.length)));
  }));
}

function sameLogin(a, b) {
  return typeof a === "string" && typeof b === "string" && a.toLowerCase() === b.toLowerCase();
}

/** Draws the times, tooltips and labels of shown messages again (the language changed). */
export function relabelMessages(list) {
  for (const node of list.querySelectorAll("time.msg-time")) {
    const date = parseDate(node.getAttribute("datetime"));
    if (!date) continue;
    node.textContent = shortTime(date);
    node.title = dateTime(date);
  }
  for (const node of list.querySelectorAll(".msg-image-button")) {
    const user = node.closest(".msg")?.dataset.user ?? "";
    node.title = t("chat.openFullSize");
    node.querySelector("img").alt = t("chat.imageFrom", { user });
  }
}

export function daySeparator(date) {
  return el("li", { className: "day-separator", dataset: { day: dayKey(date) } },
    el("span", {}, dayLabel(date)));
}
