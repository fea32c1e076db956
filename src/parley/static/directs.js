// Direct chats: their names as people see them, their own list in the sidebar, and the
// "New direct message" dialog that finds people by the start of their login.

import { currentLanguage, t } from "./i18n.js";
import { el } from "./render.js";
import { state } from "./state.js";
import { $, sameUser } from "./ui.js";

export const MAX_OTHERS = 9; // a direct chat has 1 to 9 members besides the asker
const SEARCH_DELAY_MS = 250;
const MAX_PREFIX = 32;

const known = new Set(); // names of direct chats answered to `direct` before any list showed them

/** True for a direct chat (the list's `direct` flag, or a `direct` answer named it). */
export function isDirect(name) {
  const info = state.chats.find((c) => c.name === name);
  return info ? info.direct === true : known.has(name);
}

/** The other members of a direct chat, from the list, or else from its name (`@a,b`). */
export function others(name) {
  const info = state.chats.find((c) => c.name === name);
  const members = info && Array.isArray(info.members) ? info.members : name.slice(1).split(",");
  const rest = members.filter((m) => !sameUser(m, state.me));
  return rest.length > 0 ? rest : members;
}

/** What a chat is called on screen: a direct chat by the other members' names. */
export function chatLabel(name) {
  if (name === null || !isDirect(name)) return name;
  return new Intl.ListFormat(currentLanguage(), { style: "long", type: "conjunction" }).format(others(name));
}

/** The direct chats, under their own heading, each by the other members' names. */
export function renderDirectList(chats, current, onPick) {
  const items = chats.map((chat) => {
    const label = chatLabel(chat.name);
    const button = el("button", {
      type: "button",
      className: "chat-item direct-item",
      "aria-current": chat.name === current ? "true" : null,
      dataset: { chat: chat.name },
    },
    el("span", { className: "chat-avatar direct-avatar", "aria-hidden": "true" }, initial(others(chat.name)[0])),
    el("span", { className: "chat-item-name" }, label));
    button.addEventListener("click", () => onPick(chat.name));
    return el("li", {}, button);
  });
  if (items.length === 0) items.push(el("li", { className: "muted chat-list-empty" }, t("direct.none")));
  $("direct-list").replaceChildren(...items);
}

function initial(name) {
  const first = [...String(name ?? "").trim()][0];
  return first ? first.toUpperCase() : "@";
}

/**
 * The dialog and the requests: send(request) sends (false when offline);
 * the `direct` answer is given to answered(), the `users` answer to found().
 */
export class DirectChats {
  constructor(send) {
    this.send = send;
    this.picked = [];        // logins chosen in the dialog, in the order picked
    this.results = [];       // the last `users` answer, without the asker
    this.onlyMe = false;     // … which named the asker alone
    this.prefix = "";        // what the last `users` request asked for
    this.searchesOut = 0;    // `users` requests not answered yet: only the last one's answer is shown
    this.timer = null;
    this.asking = false;     // a `direct` request is unanswered
    this.input = $("direct-search");

    $("new-direct").addEventListener("click", () => this.open());
    this.input.addEventListener("input", () => this.search());
    $("direct-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    $("direct-dialog").addEventListener("close", () => clearTimeout(this.timer));
    // A name in the online list starts (or opens) a direct chat with that person.
    $("online-list").addEventListener("click", (event) => {
      const button = event.target.closest("[data-user]");
      if (button && !sameUser(button.dataset.user, state.me)) this.start([button.dataset.user]);
    });
    window.addEventListener("languagechange", () => this.draw());
  }

  open() {
    this.picked = [];
    this.results = [];
    this.onlyMe = false;
    this.prefix = "";
    this.input.value = "";
    this.error("");
    this.asking = false;
    this.draw();
    $("direct-dialog").showModal();
    this.input.focus();
  }

  /** Ask for the logins starting with what is typed, once typing pauses. */
  search() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      const prefix = this.input.value.trim().slice(0, MAX_PREFIX);
      if (prefix === this.prefix) return;
      this.prefix = prefix;
      if (prefix === "") {
        this.results = [];
        this.onlyMe = false;
        this.draw();
        return;
      }
      if (this.send({ Type: "account", Command: "users", Prefix: prefix })) this.searchesOut += 1;
      else this.error(t("direct.offline"));
    }, SEARCH_DELAY_MS);
  }

  /** {"Type":"account","Command":"users",...}: the people found (only the newest answer counts). */
  found(frame) {
    this.searchesOut = Math.max(0, this.searchesOut - 1);
    if (this.searchesOut > 0 || !$("direct-dialog").open) return;
    if (frame.Status !== undefined) {
      this.error(typeof frame.Detail === "string" ? frame.Detail : frame.Status);
      return;
    }
    const users = Array.isArray(frame.Users) ? frame.Users.filter((u) => typeof u === "string") : [];
    this.results = users.filter((u) => !sameUser(u, state.me));
    this.onlyMe = users.length > 0 && this.results.length === 0;
    this.draw();
  }

  pick(login) {
    if (this.picked.some((p) => sameUser(p, login))) return;
    if (this.picked.length >= MAX_OTHERS) {
      this.error(t("direct.limit", { n: MAX_OTHERS }));
      return;
    }
    this.error("");
    this.picked.push(login);
    this.draw();
    this.input.focus();
  }

  unpick(login) {
    this.picked = this.picked.filter((p) => p !== login);
    this.error("");
    this.draw();
  }

  draw() {
    $("direct-picked").replaceChildren(...this.picked.map((login) => {
      const chip = el("button", {
        type: "button", className: "direct-chip", title: t("direct.remove", { name: login }),
        dataset: { login },
      }, login, el("span", { "aria-hidden": "true" }, " ×"));
      chip.addEventListener("click", () => this.unpick(login));
      return el("li", {}, chip);
    }));
    $("direct-picked").hidden = this.picked.length === 0;
    const rows = this.results.map((login) => {
      const chosen = this.picked.some((p) => sameUser(p, login));
      const button = el("button", {
        type: "button", className: "direct-result", "aria-pressed": chosen ? "true" : "false",
        dataset: { login },
      }, login);
      button.addEventListener("click", () => (chosen ? this.unpick(login) : this.pick(login)));
      return el("li", {}, button);
    });
    if (rows.length === 0 && this.prefix !== "" && this.searchesOut === 0) {
      const none = this.onlyMe ? t("direct.onlyYou") : t("direct.noMatches", { prefix: this.prefix });
      rows.push(el("li", { className: "muted" }, none));
    }
    $("direct-results").replaceChildren(...rows);
    $("direct-hint").textContent = t("direct.limit", { n: MAX_OTHERS });
    $("direct-submit").disabled = this.asking;
  }

  submit() {
    if (this.picked.length === 0) {
      // Typed a whole login without picking it: take it as it is.
      const typed = this.input.value.trim();
      if (typed === "") {
        this.error(t("direct.pickSomeone"));
        return;
      }
      this.picked.push(typed);
    }
    this.start(this.picked);
  }

  /** Ask for the direct chat with these people; the answer opens it. */
  start(logins) {
    if (!this.send({ Type: "chat", Command: "direct", With: logins })) {
      this.error(t("direct.offline"));
      return false;
    }
    this.asking = true;
    this.error("");
    if ($("direct-dialog").open) this.draw();
    return true;
  }

  /** The `direct` answer: true when the chat is found (then it is to be entered). */
  answered(frame) {
    this.asking = false;
    if ($("direct-dialog").open) this.draw();
    if (frame.Status === "success" && typeof frame.Chat === "string") {
      known.add(frame.Chat);
      if ($("direct-dialog").open) $("direct-dialog").close();
      return true;
    }
    this.error(failure(frame));
    return false;
  }

  /** Show why it failed: in the dialog when it is open, else as a toast (by the caller). */
  error(text) {
    $("direct-error").textContent = text;
    if (text !== "" && !$("direct-dialog").open) this.onError(text);
  }

  onError() {}
}

function failure(frame) {
  const detail = typeof frame.Detail === "string" ? frame.Detail : "";
  if (frame.Status === "not found") {
    const login = detail.match(/'(.+)'/);
    if (login) return t("direct.notFound", { login: login[1] });
  }
  return t("direct.failed", { detail: detail || String(frame.Status) });
}
