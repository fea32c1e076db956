// Moderation in the web client (docs/protocol.md, "Moderation"). On choosing a room the
// client asks `moderators`: who owns it, who moderates it, and the person's own Role there.
// The owner, its moderators and server admins then get a menu on other members' names (in
// the online list and on messages, and from a message's "⋯" menu) to ban, mute, and (owner
// and admins) make or unmake a moderator. The menu is the message menu's (menu.js).
// The moderators are listed beside who is online, with a badge on their names there.
// A ban push closes the chat with a message; a later refusal of it says why.

import { isDirect } from "./directs.js";
import { t } from "./i18n.js";
import { menuItem } from "./menu.js";
import { el } from "./render.js";
import { chatInfo, state } from "./state.js";
import { $, sameUser, toast } from "./ui.js";

const HOUR = 60;
const DAY = 24 * HOUR;
// The lengths offered, in minutes (null: for good), each with how it reads after a verb.
const BANS = [
  { minutes: HOUR, time: () => t("moderation.for1h") },
  { minutes: DAY, time: () => t("moderation.for1d") },
  { minutes: null, time: () => t("moderation.forGood") },
];
const MUTES = [
  { minutes: 10, time: () => t("moderation.for10m") },
  { minutes: HOUR, time: () => t("moderation.for1h") },
  { minutes: DAY, time: () => t("moderation.for1d") },
];
const COMMANDS = new Set(["moderators", "moderator", "ban", "mute"]);
const MODERATING = new Set(["owner", "admin", "moderator"]);
const APPOINTING = new Set(["owner", "admin"]);

export class Moderation {
  /**
   * send(request): false when offline; menu: the message menu (menu.js); online: the
   * online list's view (ui.js); writeTo(login): opens a direct chat; banned(chat): the
   * person was banned from `chat` (app.js leaves it when it is open).
   */
  constructor({ send, menu, online, writeTo, banned }) {
    this.send = send;
    this.menu = menu;
    this.online = online;
    this.writeTo = writeTo;
    this.banned = banned;
    this.bannedFrom = new Set(); // chats this page saw the person banned from
    this.pending = [];           // requests sent, oldest first: {command, chat, login, time}
    this.reset(null);
    menu.extra = (message) => this.entry(String(message.user ?? ""));
    online.decorate = (row, login) => this.badge(row, login);
    // A click on a name: the menu for those who may use it. In the online list it comes
    // before the click that opens a direct chat (directs.js), which the menu then offers.
    $("online-list").addEventListener("click", (event) => {
      const name = event.target.closest("[data-user]");
      if (!name || !this.mayActOn(name.dataset.user)) return;
      event.stopPropagation();
      const login = name.dataset.user;
      const write = menuItem(t("moderation.writeTo", { user: login }), () => {
        this.menu.close();
        this.writeTo(login);
      });
      this.menu.show([write, ...this.items(login)], name, t("moderation.menuLabel", { user: login }));
    }, { capture: true });
    $("message-list").addEventListener("click", (event) => {
      const name = event.target.closest(".msg-user");
      const login = name?.closest(".msg")?.dataset.user;
      if (!name || !this.mayActOn(login)) return;
      this.menu.show(this.items(login), name, t("moderation.menuLabel", { user: login }));
    });
    window.addEventListener("languagechange", () => this.draw());
  }

  /** Forget what is known of the last chat; `chat` (or none) is the one open now. */
  reset(chat) {
    this.chat = chat;
    this.owner = null;
    this.moderators = [];
    this.role = "member";
    this.known = false; // the `moderators` answer for this chat has come
  }

  /** A room is open: ask who moderates it (a direct chat has no moderation). */
  entered(chat) {
    this.reset(chat);
    this.draw();
    if (chat !== null && !isDirect(chat)) this.send({ Type: "chat", Command: "moderators", Chat: chat });
  }

  left() {
    this.menu.close();
    this.entered(null);
  }

  /** The person's right here: ban and mute (and remove any message). */
  get moderates() {
    return this.chat !== null && MODERATING.has(this.role);
  }

  /** The right to make and unmake moderators. */
  get appoints() {
    return this.chat !== null && APPOINTING.has(this.role);
  }

  /** Whether `login` gets the menu: not oneself, not the chat's owner. */
  mayActOn(login) {
    if (!this.moderates || typeof login !== "string" || login === "") return false;
    const owner = this.owner ?? chatInfo(this.chat)?.owner ?? null;
    return !sameUser(login, state.me) && !sameUser(login, owner);
  }

  /**
   * In a message's "⋯" menu (the way there by keyboard): one item, which opens the
   * moderation menu for the message's author in its place.
   */
  entry(login) {
    if (!this.mayActOn(login)) return [];
    return [menuItem(t("moderation.moderate", { user: login }), () => {
      const anchor = this.menu.opener;
      if (anchor) this.menu.show(this.items(login), anchor, t("moderation.menuLabel", { user: login }), { align: "end" });
    })];
  }

  /** The menu's moderation items for `login` (none when the person may not act on them). */
  items(login) {
    if (!this.mayActOn(login)) return [];
    const item = (text, request, time) => menuItem(text, () => {
      this.menu.close();
      this.request(request, time);
    }, { danger: request.Command === "ban" });
    const chat = this.chat;
    const items = [];
    for (const { minutes, time } of BANS) {
      const request = { Type: "chat", Command: "ban", Chat: chat, Login: login };
      if (minutes !== null) request.Minutes = minutes;
      items.push(item(t("moderation.ban", { time: time() }), request, time));
    }
    for (const { minutes, time } of MUTES) {
      items.push(item(t("moderation.mute", { time: time() }),
        { Type: "chat", Command: "mute", Chat: chat, Login: login, Minutes: minutes }, time));
    }
    if (this.appoints) {
      const grant = !this.moderators.some((m) => sameUser(m, login));
      items.push(item(grant ? t("moderation.grant") : t("moderation.revoke"),
        { Type: "chat", Command: "moderator", Chat: chat, Login: login, Grant: grant }, null));
    }
    return items;
  }

  request(frame, time) {
    if (!this.send(frame)) {
      toast(t("connection.notConnected"), "error");
      return;
    }
    this.pending.push({ command: frame.Command, chat: frame.Chat, login: frame.Login, time });
  }

  /** The request this answer is for (answers come in order), taken off the list. */
  answered(frame) {
    const i = this.pending.findIndex((p) => p.command === frame.Command
      && (frame.Chat === undefined || p.chat === frame.Chat)
      && (frame.Login === undefined || sameUser(p.login, frame.Login)));
    return i >= 0 ? this.pending.splice(i, 1)[0] : null;
  }

  /** Frames of moderation; true when handled. */
  handle(frame) {
    if (frame.Type !== "chat" || !COMMANDS.has(frame.Command)) return false;
    if (frame.Command === "moderators") this.roles(frame);
    else if (frame.Command === "ban" && frame.Status === "banned") this.wasBanned(frame.Chat);
    else if (frame.Command === "moderator" && frame.Status === "success" && sameUser(frame.Login, state.me)) {
      this.appointed(frame);
    } else {
      this.outcome(frame);
    }
    return true;
  }

  /** The `moderators` answer for the open chat (a refusal leaves the person a member). */
  roles(frame) {
    if (frame.Chat !== this.chat || frame.Status !== undefined) return;
    this.owner = typeof frame.Owner === "string" ? frame.Owner : null;
    this.moderators = Array.isArray(frame.Moderators) ? frame.Moderators.filter((m) => typeof m === "string") : [];
    this.role = typeof frame.Role === "string" ? frame.Role : "member";
    this.known = true;
    this.draw();
  }

  /** The person was made (or unmade) a moderator: their menu comes (or goes). */
  appointed(frame) {
    this.answered(frame); // an admin appointing themselves gets the answer too
    const chat = frame.Chat;
    toast(frame.Grant === true ? t("moderation.youModerator", { chat }) : t("moderation.youNotModerator", { chat }), "info");
    if (chat === this.chat) this.entered(chat);
  }

  /** The ban push: the chat is closed to the person now. */
  wasBanned(chat) {
    this.bannedFrom.add(chat);
    if (chat === this.chat) this.menu.close();
    this.banned(chat);
    toast(t("moderation.youBanned", { chat }), "error", 12000);
  }

  /**
   * Why a `choice` of `chat` was refused, when a ban explains it (else null). An open room
   * refuses no one but the banned; a closed one also refuses a missing or wrong password,
   * which its password dialog asks for (see passwordNote).
   */
  refusal(chat, frame) {
    if (frame.Status !== "access denied" || typeof chat !== "string") return null;
    const info = chatInfo(chat);
    if (info && info.closed !== true && info.direct !== true) return t("moderation.bannedChoice", { chat });
    return null;
  }

  /**
   * The note in the password dialog of a closed chat this page saw the person banned from
   * (else null): the server's refusal is the same for a ban and a wrong password, and a ban
   * that has ended (or was lifted) leaves the person to enter the password again.
   */
  passwordNote(chat) {
    return this.bannedFrom.has(chat) ? () => t("moderation.bannedClosed", { chat }) : null;
  }

  /** The answer to a ban, mute or moderator request of this page. */
  outcome(frame) {
    const asked = this.answered(frame);
    const user = frame.Login ?? asked?.login ?? "";
    const chat = frame.Chat ?? asked?.chat ?? "";
    const time = asked?.time ? asked.time() : "";
    if (frame.Status === "success") {
      if (frame.Command === "moderator") {
        this.appoint(chat, user, frame.Grant === true);
        toast(frame.Grant === true ? t("moderation.granted", { user, chat }) : t("moderation.revoked", { user, chat }), "ok");
      } else if (frame.Command === "ban") {
        this.appoint(chat, user, false); // a ban takes the role away too
        toast(t("moderation.bannedDone", { user, chat, time }), "ok");
      } else {
        toast(t("moderation.mutedDone", { user, chat, time }), "ok");
      }
      return;
    }
    toast(failure(frame, user, chat), "error");
  }

  /** The list of moderators after a `moderator` answer. */
  appoint(chat, login, grant) {
    if (chat !== this.chat) return;
    const rest = this.moderators.filter((m) => !sameUser(m, login));
    this.moderators = grant ? [...rest, login].sort() : rest;
    this.draw();
  }

  /** The moderators' line beside who is online, the badges in that list, the names as openers. */
  draw() {
    const section = $("moderators");
    section.hidden = !this.known;
    const list = $("moderator-list");
    if (this.moderators.length === 0) {
      list.replaceChildren(el("li", { className: "muted" }, t("moderation.none")));
    } else {
      list.replaceChildren(...this.moderators.map((m) => el("li", { className: "moderator", dataset: { user: m } }, m)));
    }
    document.body.classList.toggle("moderating", this.moderates);
    this.online.redecorate();
  }

  /** A row of the online list: a badge after a moderator's name. */
  badge(row, login) {
    for (const old of row.querySelectorAll(".role-badge")) old.remove();
    if (this.moderators.some((m) => sameUser(m, login))) {
      row.append(el("span", { className: "role-badge" }, t("moderation.badge")));
    }
  }
}

/** A refused ban, mute or moderator request, in words. */
function failure(frame, user, chat) {
  switch (frame.Status) {
    case "not allowed":
      return t("moderation.notAllowed", { user, chat });
    case "not found":
      return t("moderation.notFound", { user, chat });
    case "error in chat or user":
      return t("moderation.needsLogin");
    case "error":
      return typeof frame.Detail === "string" && frame.Detail !== ""
        ? t("status.withDetail", { text: t("moderation.refused"), detail: frame.Detail })
        : t("moderation.refused");
    default:
      return t("moderation.failed", { status: String(frame.Status) });
  }
}
