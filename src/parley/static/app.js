// Parley web client: the protocol handlers, which change the state (state.js) and have
// the views show it. The frames are described in docs/protocol.md.

import { AccountDialog } from "./account.js";
import { AuthForm } from "./auth.js";
import { Changes } from "./changes.js";
import { Connection, defaultSocketUrl } from "./connection.js";
import { Composer, readAsBase64 } from "./composer.js";
import { loadLanguage, t } from "./i18n.js";
import { setupLanguageSwitches } from "./language.js";
import { Live } from "./live.js";
import { Search } from "./search.js";
import { MessageView } from "./messages.js";
import { Moderation } from "./moderation.js";
import * as S from "./statuses.js";
import * as St from "./state.js";
import { TOKEN_STORAGE_KEY, limits, loadLimits, setToken, state } from "./state.js";
import {
  $, OnlineView, applyLimits, hideBanner, renderChatList, sameUser, setText, setupDialogs, showBanner,
  showView, textOf, toast,
} from "./ui.js";

// The catalogue is loaded before any view draws a string (i18n.js).
await loadLanguage();

const RESUME_PAGE = 100; // the most messages one `choice` with `After` answers with (docs/protocol.md)

const conn = new Connection(defaultSocketUrl());
const AROUND = 50; // a `choice` with `Around` answers at most this many after the message (docs/protocol.md)

const messages = new MessageView((before) => requestEarlier(before), {
  onNeedLater: (after) => requestLater(after),
  onJumpLatest: () => choose(state.chat),
});
const online = new OnlineView();
const composer = new Composer(async (draft) => {
  if (changes.editing) return changes.sendEdit(draft);
  const chat = state.chat;
  const sent = await sendMessage(draft);
  if (sent) {
    live.sent(chat);
    changes.sent();
  }
  return sent;
});
// Direct chats, unread counts, notifications, typing and drafts (live.js).
const live = new Live({
  send: (request) => conn.send(request),
  messages,
  composer,
  enterDirect: (chat, list, change) => enterDirect(chat, list, change),
  openChat: (chat) => choose(chat),
});
// Replying, editing, removing and reacting (changes.js).
const changes = new Changes({
  send: (request) => conn.send(request),
  messages,
  composer,
  openAt: (chat, id) => live.openAt(chat, id),
});
// Roles, bans and mutes: the menu on names, the moderators' line, the ban push (moderation.js).
const moderation = new Moderation({
  send: (request) => conn.send(request),
  menu: changes.menu,
  online,
  writeTo: (login) => live.directs.start([login]),
  banned: (chat) => {
    if (chat === state.chat) leaveChat();
  },
});
changes.moderates = () => moderation.moderates;
const search = new Search((request) => conn.send(request), (chat, id) => openAround(chat, id));
// ListChanges: after the whole list, the server sends only what changes in it.
const auth = new AuthForm((command, login, password) =>
  conn.send({ Type: "account", Command: command, Login: login, Password: password, ListChanges: true }));
const account = new AccountDialog((request) => conn.send(request), () => {
  setToken(null);
  forgetSession();
  auth.show(S.loggedOutEverywhere);
});

// ---- connection -------------------------------------------------------------

conn.addEventListener("open", () => {
  state.everConnected = true;
  state.loggedIn = false;
  if (state.token) {
    state.tokenLogin = conn.send({ Type: "account", Command: "login", Token: state.token, ListChanges: true });
  } else {
    hideBanner();
    auth.show();
  }
});

conn.addEventListener("close", (event) => {
  const { code, retryInMs } = event.detail;
  St.connectionLost();
  auth.enable();
  account.error("");
  $("create-submit").disabled = false;
  messages.cancelEarlier();
  search.connectionLost();
  if (state.chat !== null) online.stale();
  // Why, as a function giving the text in the language of the moment (or "": not known).
  const reason = S.closeReason(code) ? () => S.closeReason(code) : state.closeReason;
  state.closeReason = reason;
  if (code === 1009) failOldestSend(reason);
  if (retryInMs === null) return;
  const seconds = Math.max(1, Math.round(retryInMs / 1000));
  if (!state.everConnected) {
    showView("loading");
    setText($("loading-text"), () => t("connection.cannotReach", { n: seconds }));
    return;
  }
  const offline = navigator.onLine === false;
  const text = offline
    ? () => t("connection.offline")
    : () => withReason(reason, t("connection.lost", { n: seconds }));
  const retry = { label: () => t("connection.retryNow"), onClick: () => conn.retryNow() };
  showBanner(text, { kind: "error", action: offline ? null : retry });
  document.body.classList.add("offline");
});

conn.addEventListener("retry", () => {
  if (state.everConnected && !$("banner").hidden && navigator.onLine !== false) {
    const reason = state.closeReason;
    showBanner(() => withReason(reason, t("connection.reconnecting")), { kind: "warn" });
  }
});

/** "The server is restarting. Reconnecting…": the reason (a function, or "") before `text`. */
function withReason(reason, text) {
  return reason ? `${textOf(reason)} ${text}` : text;
}

conn.addEventListener("frame", (event) => {
  const frame = event.detail;
  try {
    handleFrame(frame);
  } catch (err) {
    console.error("parley: failed to handle a frame", frame, err);
  }
});

function handleFrame(frame) {
  if (changes.handle(frame) || search.handle(frame) || live.handle(frame) || moderation.handle(frame)) return;
  if (frame.Type === "account") return handleAccount(frame);
  if (frame.Type === "chat") return handleChat(frame);
  if (frame.Type === "error") return toast(S.protocolError(frame), "error");
  console.warn("parley: unexpected frame", frame);
}

// ---- accounts ---------------------------------------------------------------

function handleAccount(frame) {
  const ok = frame.Status === "success";
  switch (frame.Command) {
    case "registration":
      if (ok) return loggedIn(frame.User, frame.Token, { fresh: true });
      return auth.error(() => S.registrationError(frame));
    case "login": {
      const byToken = state.tokenLogin;
      state.tokenLogin = false;
      if (ok) return loggedIn(frame.User, frame.Token, { fresh: false });
      if (byToken) {
        // The saved token was refused (revoked, or the account is gone).
        setToken(null);
        state.me = null;
        leaveChat();
        hideBanner();
        return auth.show(frame.Status === "disabled" ? () => S.loginError(frame)
          : S.sessionExpired);
      }
      return auth.error(() => S.loginError(frame));
    }
    case "logout":
      if (frame.Status === "logged out" && state.loggedIn) {
        // Another socket logged this session's token out.
        setToken(null);
        forgetSession();
        return auth.show(S.sessionExpired);
      }
      return undefined; // our own logout: the page has already forgotten the session
    case "password": {
      const token = account.answered(frame);
      if (token) {
        setToken(token);
        toast(S.passwordChanged(), "ok");
      }
      return undefined;
    }
    default:
      console.warn("parley: unexpected account frame", frame);
  }
  return undefined;
}

function loggedIn(user, token, { fresh }) {
  const reconnect = state.chat !== null && state.me !== null && sameUser(state.me, user);
  state.me = user;
  state.loggedIn = true;
  setToken(token ?? state.token);
  $("me-name").textContent = user;
  auth.done();
  live.loggedIn();
  // When reconnecting into a chat, the banner stays until the chat is re-entered.
  if (!reconnect) connectionBack();
  showView("app");
  if (fresh) conn.send({ Type: "chat", Command: "list" });
  if (reconnect) {
    resumeChat();
  } else {
    // Back to the chat open last time, or to "general", which always exists.
    if (state.chat === null) choose(St.savedChat() ?? "general", { restore: true });
  }
  composer.enable(state.chat !== null);
}

function connectionBack() {
  state.closeReason = "";
  document.body.classList.remove("offline");
  if (!$("banner").hidden) {
    hideBanner();
    toast(t("connection.back"), "ok", 2500);
  }
}

$("logout").addEventListener("click", () => {
  conn.send({ Type: "account", Command: "logout" });
  setToken(null);
  forgetSession();
  auth.show();
});

/** Nothing of the last session left on the page. */
function forgetSession() {
  live.forget();
  search.close();
  St.forgetSession();
  account.close();
  leaveChat();
  renderChatList([], null, null, () => {});
}

// Another tab of this site logged out, or logged in.
window.addEventListener("storage", (event) => {
  if (event.key !== TOKEN_STORAGE_KEY) return;
  if (event.newValue === null && state.token !== null) {
    // The token is revoked for every tab: make this connection anonymous too.
    conn.send({ Type: "account", Command: "logout" });
    state.token = null;
    forgetSession();
    auth.show(S.loggedOutInTab);
  } else if (event.newValue !== null && !state.loggedIn && !state.tokenLogin) {
    state.token = event.newValue;
    state.tokenLogin = conn.send({ Type: "account", Command: "login", Token: state.token, ListChanges: true });
  } else if (event.newValue !== null) {
    // A new token (a password change in another tab): the next reconnect uses it.
    state.token = event.newValue;
  }
});

// ---- chats ------------------------------------------------------------------

function handleChat(frame) {
  // Frames without a Command are the seed's answers to a choice or a message.
  if (frame.Command === undefined) return handleBareStatus(frame);
  switch (frame.Command) {
    case "list": return onList(frame);
    case "create": return onCreate(frame);
    case "choice": return onChoice(frame);
    case "earlier": return onEarlier(frame);
    case "connected": return onConnected(frame);
    case "message": return onMessage(frame);
    case "delete": return onDelete(frame);
    default:
      console.warn("parley: unexpected chat frame", frame);
  }
  return undefined;
}

function onList(frame) {
  const chosenGone = St.applyList(frame);
  drawChatList();
  if (chosenGone) {
    leaveChat();
    toast(S.noSuchChat(), "warn");
  }
  updateChatHeader();
}

function drawChatList() {
  const pick = (name) => {
    if (name === state.chat && state.choices.length === 0) {
      document.body.classList.add("in-chat");
      return;
    }
    choose(name);
  };
  // Rooms here; the direct chats under their own heading (live.js).
  renderChatList(state.chats.filter((c) => c.direct !== true), state.chat, state.me, pick);
  live.listDrawn(pick);
}

function choose(chat, { password = null, restore = false, around = null, later = null } = {}) {
  const pass = password ?? state.passwords.get(chat) ?? null;
  const request = { Type: "chat", Command: "choice", Chat: chat };
  if (pass !== null) request.Password = pass;
  if (around !== null) request.Around = around;
  if (later !== null) request.After = later;
  if (!conn.send(request)) {
    if (!restore) toast(t("connection.notConnected"), "error");
    return false;
  }
  state.choices.push({ chat, password: pass, resume: false, restore, around, later });
  return true;
}

/** Open `chat` at message `id` with the messages around it (a search result). */
function openAround(chat, id) {
  if (chat === state.chat && state.choices.length === 0 && messages.nodeOf(id)) {
    live.openAt(chat, id);
    return;
  }
  live.jump.want(chat, id);
  choose(chat, { around: id });
}

/** Scrolled down in a chat opened at an old message: the next newer page. */
function requestLater(after) {
  if (!state.loggedIn || state.choices.length > 0 || state.chat === null) return false;
  return choose(state.chat, { later: after });
}

function resumeChat() {
  const chat = state.chat;
  const request = { Type: "chat", Command: "choice", Chat: chat };
  const after = state.newestId;
  if (after !== null) request.After = after;
  // Changes to the messages shown, made while away, come with the answer (Changed).
  if (after !== null && state.change !== null) request.Changes = state.change;
  const pass = state.passwords.get(chat);
  if (pass !== undefined) request.Password = pass;
  conn.send(request);
  state.choices.push({ chat, password: pass ?? null, resume: true, restore: false });
}

function onChoice(frame) {
  if (frame.Status !== undefined) {
    // Refused before the chat was looked at (e.g. the session is gone).
    state.choices.shift();
    toast(S.choiceError(frame), "error");
    return;
  }
  const pending = state.choices.shift() ?? { chat: frame.Chat, password: null, resume: false };
  const list = Array.isArray(frame.Messages) ? frame.Messages : [];
  if (pending.password !== null) state.passwords.set(frame.Chat, pending.password);
  // The server has this chat chosen now, even if another choice is on its way.
  if (pending.later !== null && pending.later !== undefined && frame.Chat === state.chat) {
    St.sawMessages(list);
    messages.appendLater(list);
    changes.saw(frame.Change);
    messages.setBehind(list.length >= RESUME_PAGE);
  } else if (pending.resume && frame.Chat === state.chat) {
    moderation.entered(frame.Chat); // roles may have changed while away
    St.sawMessages(list);
    messages.append(list);
    changes.applyChanged(frame);
    if (list.length >= RESUME_PAGE || frame.More === true) {
      resumeChat(); // more were missed than one answer carries: ask from the last one
      return;
    }
    connectionBack();
    messages.setBehind(false); // caught up with the newest
    if (state.choices.length === 0) resendOutbox();
    else state.pending.clear(); // another chat is being opened: they would land there
  } else {
    // A chat restored after a reload stays behind the list on a phone; a chosen one opens.
    enterChat(frame.Chat, list, { open: !pending.restore, change: frame.Change });
    if (Number.isInteger(pending.around)) {
      messages.setBehind(list.filter((m) => m.id >= pending.around).length > AROUND);
    }
  }
  if (state.choices.length === 0) conn.send({ Type: "chat", Command: "connected" });
}

function enterChat(chat, list, { open = true, change = null } = {}) {
  St.enterChat(chat, list, change);
  changes.cancel();
  $("password-dialog").close();
  composer.enable(true); // before the history, which scrolls to the bottom of what is left
  messages.reset(live.label(chat), state.me, list); // named as on screen (a direct chat by its people)
  online.reset();
  $("online-panel").hidden = !window.matchMedia("(min-width: 1100px)").matches;
  composer.clear();
  composer.showError(null);
  composer.enable(true);
  live.entered(chat);
  moderation.entered(chat);
  if (open) document.body.classList.add("in-chat");
  updateChatHeader();
  drawChatList();
  // Ready to write: on a wide screen the chat shows beside the list, also when restored.
  const shown = open || !window.matchMedia("(max-width: 720px)").matches;
  if (shown && window.matchMedia("(pointer: fine)").matches) composer.focus();
}

function leaveChat() {
  St.leaveChat();
  changes.cancel();
  live.left();
  moderation.left();
  messages.clear();
  online.hide();
  composer.clear();
  composer.showError(null);
  composer.enable(false);
  document.body.classList.remove("in-chat");
  updateChatHeader();
  drawChatList();
}

function updateChatHeader() {
  $("chat-name").textContent = state.chat ?? t("chat.choose");
  const info = St.chatInfo(state.chat);
  $("delete-chat").hidden = !(info && info.owner && sameUser(info.owner, state.me) && info.name !== "general");
  live.header();
  updateTitle();
}

// The unread messages of every chat are counted in the title (live.js).
function updateTitle() {
  live.drawTitle();
}

/** {"Type":"chat","Status":...} with no Command: a refused choice, or a message to a chat that is gone. */
function handleBareStatus(frame) {
  const pending = state.choices.shift();
  if (pending === undefined) {
    if (frame.Status === "error") {
      failOldestSend(S.noSuchChat);
      if (state.chat !== null) leaveChat();
      toast(S.noSuchChat(), "error");
    }
    return;
  }
  if (state.choices.length > 0) return;
  if (pending.resume) {
    // The chat we were in is gone or closed to us now.
    connectionBack();
    leaveChat();
    toast(moderation.refusal(pending.chat, frame) ?? S.chatGone(frame), "error");
    return;
  }
  if (pending.restore) {
    // The chat open last time is gone or closed to us: fall back to "general".
    St.forgetSavedChat();
    if (pending.chat !== "general") choose("general", { restore: true });
    return;
  }
  const banned = moderation.refusal(pending.chat, frame);
  if (banned !== null) {
    toast(banned, "error", 10000);
    return;
  }
  if (frame.Status === "access denied") {
    state.passwords.delete(pending.chat);
    askPassword(pending.chat, moderation.passwordNote(pending.chat) ?? (pending.password !== null ? S.wrongPassword : ""));
    return;
  }
  toast(S.noSuchChat(), "error");
}

function askPassword(chat, error) {
  state.pendingPasswordChat = chat;
  setText($("password-title"), () => t("chat.closedNamed", { chat }));
  setText($("password-error"), error);
  $("password-submit").disabled = false;
  const input = $("password-input");
  const dialog = $("password-dialog");
  // A wrong password stays, selected, to be corrected or typed over.
  if (!error || !dialog.open) input.value = "";
  if (!dialog.open) dialog.showModal();
  input.focus();
  input.select();
}

$("password-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const password = $("password-input").value;
  if (password === "") {
    setText($("password-error"), () => t("chat.enterPassword"));
    return;
  }
  setText($("password-error"), "");
  choose(state.pendingPasswordChat, { password });
});

function requestEarlier(before) {
  if (!state.loggedIn || state.choices.length > 0) return false;
  return conn.send({ Type: "chat", Command: "earlier", Before: before });
}

function onEarlier(frame) {
  if (frame.Status !== undefined) {
    messages.cancelEarlier();
    messages.setStatus(() => t("chat.earlierFailed"));
    return;
  }
  if (frame.Chat !== state.chat) return;
  messages.prepend(Array.isArray(frame.Messages) ? frame.Messages : []);
  live.earlier();
}

function onConnected(frame) {
  if (frame.Status !== undefined || frame.Chat !== state.chat) return;
  St.applyOnline(frame);
  if (Array.isArray(frame.Online)) online.reset(frame.Online);
  if (typeof frame.Joined === "string") online.add(frame.Joined);
  if (typeof frame.Left === "string") online.remove(frame.Left);
}

// ---- creating and deleting --------------------------------------------------

$("new-chat").addEventListener("click", () => {
  $("create-name").value = "";
  $("create-password").value = "";
  setText($("create-error"), "");
  $("create-submit").disabled = false;
  $("create-dialog").showModal();
  $("create-name").focus();
});

$("create-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const name = $("create-name").value.trim();
  const password = $("create-password").value;
  if (name === "") {
    setText($("create-error"), () => t("chat.nameMissing"));
    return;
  }
  const request = { Type: "chat", Command: "create", Chat: name };
  if (password !== "") request.Password = password;
  if (!conn.send(request)) {
    setText($("create-error"), () => t("connection.notConnected"));
    return;
  }
  state.creating = { chat: name, password: password || null };
  setText($("create-error"), "");
  $("create-submit").disabled = true;
});

function onCreate(frame) {
  const pending = state.creating;
  state.creating = null;
  $("create-submit").disabled = false;
  if (frame.Status !== "success") {
    setText($("create-error"), () => S.createError(frame));
    if (!$("create-dialog").open) toast(S.createError(frame), "error");
    return;
  }
  $("create-dialog").close();
  if (pending && pending.password) state.passwords.set(frame.Chat, pending.password);
  // Shown at once; the server's next list confirms it.
  St.addOwnChat(frame.Chat, Boolean(pending && pending.password));
  // The server has chosen the new chat for this connection.
  state.choices = [];
  enterChat(frame.Chat, [], { change: 0 });
  conn.send({ Type: "chat", Command: "connected" });
}

$("delete-chat").addEventListener("click", () => {
  const chat = state.chat;
  if (chat === null) return;
  if (!window.confirm(t("chat.deleteConfirm", { chat }))) return;
  if (!conn.send({ Type: "chat", Command: "delete", Chat: chat })) {
    toast(t("connection.notConnected"), "error");
  }
});

function onDelete(frame) {
  if (frame.Status === "success") {
    if (frame.Chat === state.chat) leaveDeletedChat(frame.Chat);
    toast(t("chat.deletedByYou", { chat: frame.Chat }), "ok");
  } else if (frame.Status === "deleted") {
    if (frame.Chat === state.chat) {
      leaveDeletedChat(frame.Chat);
      toast(S.chatDeletedNamed(frame.Chat), "warn", 10000);
    }
  } else {
    toast(S.deleteError(frame), "error");
  }
}

/** The open chat was deleted: it is left, and what was being written stays on screen. */
function leaveDeletedChat(chat) {
  const draft = live.chatDeleted(chat);
  leaveChat();
  if (draft.trim() === "") return;
  composer.enable(true);
  composer.restore({ text: draft, file: null });
  composer.showError(S.draftKeptAfterDelete(chat));
}

/** The `direct` answer: the server has chosen that chat for this connection. */
function enterDirect(chat, list, change) {
  state.choices = [];
  enterChat(chat, list, { change });
  conn.send({ Type: "chat", Command: "connected" });
}

// ---- messages ---------------------------------------------------------------

function newNonce() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function sendMessage({ text, file }) {
  if (state.chat === null) {
    composer.showError(() => t("composer.chooseChat"));
    return false;
  }
  const offline = !conn.isOpen || !state.loggedIn;
  const resuming = state.choices.length === 1 && state.choices[0].resume;
  if (!offline && state.choices.length > 0 && !resuming) {
    composer.showError(S.notSentChatOpening);
    return false;
  }
  const chat = state.chat;
  const payload = { Type: "chat", Command: "message", Nonce: newNonce() };
  if (text !== "") payload.Text = text;
  if (changes.replyId !== null) payload.Reply = changes.replyId;
  if (file !== null) {
    try {
      payload.Image = await readAsBase64(file);
    } catch {
      composer.showError(() => t("composer.readFailed"));
      return false;
    }
  }
  if (state.chat !== chat || state.choices.some((c) => !c.resume)) {
    composer.showError(S.notSentChatChanged);
    return false;
  }
  if (!conn.isOpen || !state.loggedIn) {
    // Kept, shown as not sent, and sent when the connection is back (resendOutbox).
    state.pending.add(payload, { text, file }, { held: true });
    composer.showError(S.notConnectedQueued, "offline");
    return true;
  }
  if (state.choices.some((c) => c.resume)) {
    // Re-entering the chat after a reconnect: it goes out as soon as that is done.
    state.pending.add(payload, { text, file });
    return true;
  }
  if (state.pending.limited) {
    // Behind messages the server refused as too fast: it goes out with them, in order.
    state.pending.add(payload, { text, file }, { held: true });
    const waiting = state.pending.held.length;
    composer.showError(() => S.rateLimitedWaiting(waiting), "rate");
    scheduleRetry();
    return true;
  }
  if (!conn.send(payload)) {
    state.pending.add(payload, { text, file }, { held: true });
    composer.showError(S.notConnectedQueued, "offline");
    return true;
  }
  state.pending.add(payload, { text, file });
  return true;
}

function onMessage(frame) {
  if (frame.Message && typeof frame.Message === "object") {
    if (state.choices.length > 0 || state.chat === null) return; // belongs to a chat being left
    const mine = sameUser(frame.Message.user, state.me);
    if (mine && state.pending.confirm(frame.Message)) retries.progress = true;
    if (messages.behind) {
      messages.newerBelow(); // shown when the newer pages are loaded, or on "jump to the latest"
    } else {
      St.sawMessages([frame.Message]);
      messages.append([frame.Message], { mine });
    }
    live.message(frame.Message, mine);
    return;
  }
  if (frame.Status === "rate limited") {
    // Not stored: kept, shown as not sent, and sent again by itself once allowed.
    const waiting = state.pending.limit();
    if (waiting > 0) {
      composer.showError(() => S.rateLimitedWaiting(waiting), "rate");
      scheduleRetry();
    }
    return;
  }
  if (frame.Status !== undefined) failOldestSend(() => S.messageError(frame));
}

// Sending again what the server refused as too fast: after 1 s, and longer each time
// a round gets nothing through (up to 16 s); back to 1 s as soon as one does.
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 16000;
const retries = { timer: null, delay: RETRY_MIN_MS, progress: true };

function scheduleRetry() {
  if (retries.timer !== null) return;
  retries.delay = retries.progress ? RETRY_MIN_MS : Math.min(RETRY_MAX_MS, retries.delay * 2);
  retries.progress = false;
  retries.timer = setTimeout(retryHeld, retries.delay);
}

function retryHeld() {
  retries.timer = null;
  if (state.pending.held.length === 0) return;
  if (!conn.isOpen || !state.loggedIn || state.choices.length > 0) return; // the reconnect sends them
  state.pending.retry((payload) => conn.send(payload));
}

/** The outbox changed: show what is not sent yet, and drop notices that no longer hold. */
function drawOutbox() {
  messages.showUnsent(state.pending.held);
  if (state.pending.entries.length === 0) {
    composer.clearError("offline");
    composer.clearError("rate");
  }
}
state.pending.onChange = drawOutbox;

/** The oldest unconfirmed message was refused: say why (a function giving the text) and give it back. */
function failOldestSend(reason) {
  const entry = state.pending.takeOldest();
  if (entry) composer.restore(entry);
  composer.showError(reason);
}

/** After a reconnect, send again what was not confirmed; the nonce keeps it from being stored twice. */
function resendOutbox() {
  composer.clearError("offline");
  const stuck = state.pending.resend((payload) => conn.send(payload));
  if (stuck.length > 0) {
    composer.restore(stuck[0]);
    composer.showError(() => t("composer.undelivered"));
  }
  if (state.pending.limited) scheduleRetry();
}

// ---- mobile navigation ------------------------------------------------------

$("back").addEventListener("click", () => document.body.classList.remove("in-chat"));

// ---- language -------------------------------------------------------------------

// Another language was chosen: i18n.js has filled the marked elements, and the texts
// set with setText follow by themselves (ui.js); what is drawn here is drawn again.
window.addEventListener("languagechange", () => {
  drawChatList();
  updateChatHeader();
  messages.relabel();
});

// ---- start --------------------------------------------------------------------

setupDialogs();
setupLanguageSwitches();
window.addEventListener("offline", () => {
  if (state.everConnected) showBanner(() => t("connection.offline"), { kind: "error" });
});
window.addEventListener("online", () => {
  // The socket may have survived a short outage; otherwise the connection retries at once.
  if (conn.isOpen && (state.loggedIn || !state.token)) hideBanner();
});
showView("loading");
applyLimits(limits);
loadLimits().then(applyLimits);
conn.start();
