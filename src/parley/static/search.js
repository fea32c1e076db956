// Searching messages (docs/protocol.md, "search"): the box at the top of the sidebar, the
// results grouped by chat with the words found marked, and a click opens the chat at
// that message with the messages around it.

import { chatLabel } from "./directs.js";
import { t } from "./i18n.js";
import { el, parseDate, shortTime } from "./render.js";
import * as S from "./statuses.js";
import { $, setText } from "./ui.js";

const WORD = /[\p{L}\p{N}]+/gu;

/** The words of a query, lower case (as the server reads them: runs of letters and digits). */
export function queryWords(query) {
  return [...query.matchAll(WORD)].map((m) => m[0].toLocaleLowerCase());
}

/** `text` as nodes: each word that begins with one of `words` inside a <mark>. */
export function highlighted(text, words) {
  const fragment = document.createDocumentFragment();
  let last = 0;
  for (const match of text.matchAll(WORD)) {
    const word = match[0].toLocaleLowerCase();
    if (!words.some((w) => word.startsWith(w))) continue;
    fragment.append(document.createTextNode(text.slice(last, match.index)));
    fragment.append(el("mark", {}, match[0]));
    last = match.index + match[0].length;
  }
  fragment.append(document.createTextNode(text.slice(last)));
  return fragment;
}

export class Search {
  /** send(request): false when offline; openAround(chat, id): open a chat at a message. */
  constructor(send, openAround) {
    this.send = send;
    this.openAround = openAround;
    this.input = $("search-input");
    this.panel = $("search-results");
    this.groups = $("search-groups");
    this.status = $("search-status");
    this.query = null; // the query being answered or shown
    this.results = [];
    this.inFlight = 0; // searches sent and not answered: only the last answer is shown
    $("search-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.run(this.input.value.trim());
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.close();
    });
    $("search-close").addEventListener("click", () => this.close());
    this.groups.addEventListener("click", (event) => {
      const item = event.target.closest(".search-result");
      if (item) this.openAround(item.dataset.chat, Number(item.dataset.id));
    });
    window.addEventListener("languagechange", () => {
      if (this.query !== null) this.draw();
    });
  }

  run(query) {
    if (query === "") {
      this.close();
      return;
    }
    this.query = query;
    this.results = [];
    this.panel.hidden = false;
    $("search-close").hidden = false;
    document.body.classList.add("searching");
    this.groups.replaceChildren();
    if (!this.send({ Type: "chat", Command: "search", Text: query })) {
      setText(this.status, () => t("connection.notConnected"));
      return;
    }
    this.inFlight += 1;
    setText(this.status, () => t("search.searching"));
  }

  /** The `search` answer; true when it was one. */
  handle(frame) {
    if (frame.Type !== "chat" || frame.Command !== "search") return false;
    this.inFlight = Math.max(0, this.inFlight - 1);
    if (this.query === null || this.inFlight > 0) return true; // closed, or a newer search is on its way
    if (frame.Status !== undefined) {
      this.results = [];
      this.groups.replaceChildren();
      setText(this.status, () => S.searchError(frame));
      return true;
    }
    this.results = Array.isArray(frame.Results) ? frame.Results.filter(valid) : [];
    this.draw();
    return true;
  }

  draw() {
    const count = this.results.length;
    const query = this.query;
    setText(this.status, () => (count === 0 ? t("search.none", { query }) : t("search.found", { n: count, query })));
    const words = queryWords(query);
    const byChat = new Map();
    for (const result of this.results) {
      if (!byChat.has(result.chat)) byChat.set(result.chat, []);
      byChat.get(result.chat).push(result.message);
    }
    this.groups.replaceChildren(...[...byChat].map(([chat, found]) => el("section", { className: "search-group" },
      el("h3", { className: "search-chat" }, chatLabel(chat)),
      el("ul", { className: "search-list" }, ...found.map((m) => el("li", {}, resultNode(chat, m, words)))))));
  }

  /** The connection dropped: no answer is coming to what was asked. */
  connectionLost() {
    this.inFlight = 0;
  }

  close() {
    this.query = null;
    this.results = [];
    this.input.value = "";
    this.panel.hidden = true;
    $("search-close").hidden = true;
    document.body.classList.remove("searching");
    this.groups.replaceChildren();
    setText(this.status, "");
  }
}

function valid(result) {
  return result && typeof result.chat === "string" && result.message && Number.isInteger(result.message.id);
}

function resultNode(chat, message, words) {
  const date = parseDate(message.date);
  const button = el("button", { type: "button", className: "search-result", dataset: { chat, id: String(message.id) } },
    el("span", { className: "search-meta" },
      el("span", { className: "msg-user" }, String(message.user ?? "")),
      date ? el("time", { datetime: date.toISOString() }, shortTime(date)) : null),
    el("span", { className: "search-text" }, highlighted(String(message.text ?? ""), words)));
  return button;
}
