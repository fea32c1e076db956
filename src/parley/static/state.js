// The client's state, without the DOM: the protocol handlers in app.js change it,
// and the views (messages.js, ui.js, composer.js, …) show it.

import { Outbox } from "./outbox.js";

const TOKEN_KEY = "parley.token";
const CHAT_KEY = "parley.chat";

/** localStorage, or nothing when the browser refuses it. */
export const storage = {
  get(key) {
    try { return localStorage.getItem(key); } catch { return null; }
  },
  set(key, value) {
    try {
      if (value === null) localStorage.removeItem(key);
      else localStorage.setItem(key, value);
    } catch { /* storage disabled: stay logged in for this page only */ }
  },
};

export const TOKEN_STORAGE_KEY = TOKEN_KEY;

/** Images of closed and direct chats are served only to their members: the browser
 *  presents the token in the cookie `parley_token` (sent with image requests only). */
const IMAGE_COOKIE = "parley_token";
const TOKEN_DAYS = 30;

function setImageCookie(token) {
  try {
    const secure = location.protocol === "https:" ? "; Secure" : "";
    document.cookie = token === null
      ? `${IMAGE_COOKIE}=; Path=/images/; Max-Age=0; SameSite=Strict${secure}`
      : `${IMAGE_COOKIE}=${token}; Path=/images/; Max-Age=${TOKEN_DAYS * 86400}; SameSite=Strict${secure}`;
  } catch { /* cookies disabled: images of closed chats will not show */ }
}

const MiB = 1024 * 1024;

/** What the server accepts (GET /limits); these defaults until it has answered. */
export const limits = {
  max_frame: 8 * MiB,
  max_image_bytes: 5 * MiB,
  image_types: ["image/png", "image/jpeg", "image/gif", "image/webp"],
  max_text: 4000,
  max_login: 32,
  min_password: 8,
  max_password: 1024,
  max_chat_name: 64,
};

/** Read the server's limits; the defaults stay for anything it does not say (or if it cannot be reached). */
export async function loadLimits() {
  try {
    const response = await fetch("/limits", { cache: "no-store" });
    if (!response.ok) return limits;
    const served = await response.json();
    for (const key of Object.keys(limits)) {
      const value = served[key];
      if (key === "image_types" ? Array.isArray(value) : Number.isInteger(value) && value > 0) {
        limits[key] = value;
      }
    }
  } catch { /* the defaults stay */ }
  return limits;
}

/** The largest image file the server takes: its own limit, and its base64 must fit in one frame. */
export function imageLimit() {
  return Math.min(limits.max_image_bytes, Math.floor((limits.max_frame - 1024) / 4) * 3);
}

export const state = {
  // ---- the session
  me: null,               // logged-in user name
  token: storage.get(TOKEN_KEY),
  loggedIn: false,        // this socket is logged in
  tokenLogin: false,      // a login by the saved token is unanswered
  everConnected: false,
  closeReason: "",        // why the connection was lost (a function giving the text), until it is back

  // ---- chats
  chats: [],              // [{name, closed, owner, …}] in the server's order
  chat: null,             // the chosen chat
  choices: [],            // unanswered choice requests, oldest first: {chat, password, resume, restore}
  passwords: new Map(),   // chat -> password typed this session (only kept in memory)
  creating: null,         // an unanswered create: {chat, password}
  pendingPasswordChat: null,

  // ---- the chosen chat
  newestId: null,         // the newest message id shown (where a reconnect resumes)
  change: null,           // the newest change number seen (where a reconnect resumes changes)
  online: new Set(),      // who is online in it
  pending: new Outbox(),  // messages sent and not yet confirmed stored, by Nonce
};

export function setToken(token) {
  state.token = token;
  storage.set(TOKEN_KEY, token);
  setImageCookie(token);
}

export function savedChat() {
  return storage.get(CHAT_KEY);
}

export function forgetSavedChat() {
  storage.set(CHAT_KEY, null);
}

/** A whole list (Chats) or a change (Added/Removed); returns true when the chosen chat is gone from it. */
export function applyList(frame) {
  const valid = (c) => c && typeof c.name === "string";
  if (Array.isArray(frame.Chats)) {
    state.chats = frame.Chats.filter(valid);
  } else {
    // A change: remove, then add (replacing a chat of the same name).
    const removed = new Set(Array.isArray(frame.Removed) ? frame.Removed : []);
    const added = Array.isArray(frame.Added) ? frame.Added.filter(valid) : [];
    for (const chat of added) removed.add(chat.name);
    state.chats = state.chats.filter((c) => !removed.has(c.name)).concat(added);
  }
  return state.chat !== null && !state.chats.some((c) => c.name === state.chat);
}

/** A chat just created by this user, shown before the server's next list confirms it. */
export function addOwnChat(name, closed) {
  if (!state.chats.some((c) => c.name === name)) {
    state.chats.push({ name, closed, owner: state.me });
  }
}

export function chatInfo(name) {
  return state.chats.find((c) => c.name === name);
}

export function enterChat(chat, messages, change = null) {
  state.chat = chat;
  storage.set(CHAT_KEY, chat);
  state.newestId = null;
  state.change = Number.isInteger(change) ? change : null;
  state.online = new Set();
  sawMessages(messages);
}

export function leaveChat() {
  state.chat = null;
  storage.set(CHAT_KEY, null);
  state.newestId = null;
  state.change = null;
  state.online = new Set();
}

/** Messages of the chosen chat given to the view: the newest id moves on. */
export function sawMessages(messages) {
  for (const m of messages) {
    if (m && Number.isInteger(m.id) && (state.newestId === null || m.id > state.newestId)) {
      state.newestId = m.id;
    }
  }
}

/** Who is online in the chosen chat: a whole `Online` list, then `Joined`/`Left` deltas. */
export function applyOnline(frame) {
  if (Array.isArray(frame.Online)) state.online = new Set(frame.Online);
  if (typeof frame.Joined === "string") state.online.add(frame.Joined);
  if (typeof frame.Left === "string") state.online.delete(frame.Left);
}

/** Nothing of the last session left. */
export function forgetSession() {
  storage.set(CHAT_KEY, null);
  state.me = null;
  state.loggedIn = false;
  state.passwords.clear();
  state.pending.clear();
}

/** The connection dropped: every request in flight is unanswered for good. */
export function connectionLost() {
  state.loggedIn = false;
  state.tokenLogin = false;
  state.choices = [];
  state.creating = null;
}
