// Building DOM for chat content. User data only ever reaches the page as
// text nodes or as attributes checked here; never as HTML.

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

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
  day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
});
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "medium" });
const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: "long", day: "numeric", month: "long", year: "numeric" });

export function parseDate(iso) {
  if (typeof iso !== "string") return null;
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? null : date;
}

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/** Local time of a message: "14:05" today, "3 Mar, 14:05" on other days. */
export function shortTime(date, now = new Date()) {
  return sameDay(date, now) ? timeFormat.format(date) : dateTimeFormat.format(date);
}

/** The day heading shown above the first message of each local day. */
export function dayLabel(date, now = new Date()) {
  if (sameDay(date, now)) return "Today";
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  if (sameDay(date, yesterday)) return "Yesterday";
  return dayFormat.format(date);
}

export function dayKey(date) {
  return `${date.getFullYear()}-${date.getMonth()}-${date.getDate()}`;
}

/** One message as a list item. `mine` marks the signed-in user's own messages. */
export function messageNode(message, mine) {
  const date = parseDate(message.date);
  const item = el("li", {
    className: mine ? "msg mine" : "msg",
    dataset: {
      id: String(message.id), day: date ? dayKey(date) : "", user: String(message.user ?? ""),
      time: date ? String(date.getTime()) : "",
    },
  });
  const meta = el("div", { className: "msg-meta" },
    el("span", { className: "msg-user" }, String(message.user ?? "")));
  if (date) {
    meta.append(el("time", {
      className: "msg-time", datetime: date.toISOString(), title: fullFormat.format(date),
    }, shortTime(date)));
  }
  const bubble = el("div", { className: "msg-bubble" }, meta);
  const src = safeImageSrc(message.image);
  if (src) {
    const img = el("img", { className: "msg-image", src, alt: `Image from ${message.user}`, loading: "lazy" });
    bubble.append(el("button", { type: "button", className: "msg-image-button", title: "Open full size" }, img));
  }
  if (typeof message.text === "string" && message.text !== "") {
    bubble.append(el("div", { className: "msg-text" }, linkify(message.text)));
  }
  item.append(bubble);
  return item;
}

export function daySeparator(date) {
  return el("li", { className: "day-separator", dataset: { day: dayKey(date) } },
    el("span", {}, dayLabel(date)));
}
