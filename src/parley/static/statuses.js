// What each protocol status means, in words for the person using the chat. Every text
// is looked up when it is shown (t() in i18n.js), in the language chosen at that moment.

import { number, t } from "./i18n.js";

function withDetail(text, detail) {
  return typeof detail === "string" && detail.trim() !== ""
    ? t("status.withDetail", { text, detail: detail.trim() })
    : text;
}

function hasDetail(frame) {
  return typeof frame.Detail === "string" && frame.Detail !== "";
}

export function registrationError(frame) {
  if (frame.Status === "user exist") return t("status.userExists");
  return withDetail(t("status.registrationRefused"), frame.Detail);
}

export function loginError(frame) {
  if (frame && frame.Status === "disabled") return t("status.accountDisabled");
  return t("status.loginWrong");
}

export const sessionExpired = () => t("status.sessionExpired");
export const loggedOutEverywhere = () => t("status.loggedOutEverywhere");
export const loggedOutInTab = () => t("status.loggedOutInTab");
export const passwordChanged = () => t("status.passwordChanged");

export function passwordError(frame) {
  switch (frame.Status) {
    case "rate limited":
      return t("status.tooManyAttempts");
    case "error in chat or user":
      return t("status.passwordNeedsLogin");
    case "error":
      if (hasDetail(frame)) return withDetail(t("status.newPasswordRefused"), frame.Detail);
      return t("status.currentPasswordWrong");
    default:
      return withDetail(t("status.passwordNotChanged", { status: frame.Status }), frame.Detail);
  }
}

export function createError(frame) {
  if (frame.Status === "chat exist") return t("status.chatExists");
  if (frame.Status === "rate limited") return t("status.chatsTooFast");
  if (frame.Status === "error in chat or user") return t("status.createNeedsLogin");
  return withDetail(t("status.createRefused"), frame.Detail);
}

export const wrongPassword = () => t("status.wrongPassword");
export const noSuchChat = () => t("status.noSuchChat");
export const chatDeleted = () => t("status.chatDeleted");
export const accessLost = () => t("status.accessLost");

/** A choice refused by its Status: the chat is closed to us now, or gone. */
export function chatGone(frame) {
  return frame.Status === "access denied" ? accessLost() : noSuchChat();
}

export function choiceError(frame) {
  return t("status.choiceRefused", { status: frame.Status });
}

export function messageError(frame) {
  switch (frame.Status) {
    case "failed to attach image":
      return t("status.imageRefused");
    case "rate limited":
      return t("status.messagesTooFast");
    case "error in chat or user":
      return t("status.notInChat");
    case "not found":
      return t("status.replyGone");
    case "muted":
      return t("status.muted");
    case "error":
      if (hasDetail(frame)) return withDetail(t("status.messageRefused"), frame.Detail);
      return t("status.messageNotSaved");
    default:
      return withDetail(t("status.messageNotSent", { status: frame.Status }), frame.Detail);
  }
}

/** A refused search. */
export function searchError(frame) {
  if (frame.Status === "error in chat or user") return t("status.notInChat");
  if (frame.Status === "rate limited") return t("search.tooFast");
  return withDetail(t("search.refused"), frame.Detail);
}

/** A refused edit, remove or react. */
export function changeError(frame) {
  switch (frame.Status) {
    case "not found":
      return t("status.changeNotFound");
    case "not allowed":
      return t("status.changeNotAllowed");
    case "error in chat or user":
      return t("status.notInChat");
    case "rate limited":
      return t("status.messagesTooFast");
    case "error":
      return withDetail(t("status.changeRefused"), frame.Detail);
    default:
      return withDetail(t("status.changeFailed", { status: frame.Status }), frame.Detail);
  }
}

export function deleteError(frame) {
  if (frame && frame.Status === "rate limited") return t("status.chatsTooFast");
  return t("status.deleteRefused");
}

export function protocolError(frame) {
  return withDetail(t("status.protocolError"), frame.Detail);
}

/** Why the server closed the socket, by its close code ("" when it says nothing). */
export function closeReason(code) {
  if (code === 1009) return t("status.closeTooLarge");
  if (code === 1001) return t("status.closeRestarting");
  if (code === 4008) return t("status.closeBehind");
  if (code === 4001) return t("status.closeLoggedOut");
  if (code === 4003) return t("status.closeDisabled");
  return "";
}

/** Why `file` cannot be sent, or null; `maxBytes` and `types` are the server's limits. */
export function imageRefusal(file, { maxBytes, types }) {
  if (!file.type || !types.includes(file.type)) {
    return t("status.notAnImage", { name: file.name || t("status.thisFile") });
  }
  if (file.size > maxBytes) {
    return t("status.imageTooLarge", { size: fileSize(file.size), limit: limitSize(maxBytes) });
  }
  return null;
}

const KiB = 1024;
const MiB = 1024 * 1024;

/** A file's size as the person reads it: "812 bytes", "201 KB", "6.0 MB". */
export function fileSize(bytes) {
  if (bytes < KiB) return t("size.bytes", { n: bytes });
  if (bytes < MiB) return t("size.kb", { n: number(Math.ceil(bytes / KiB)) });
  return t("size.mb", { n: number(bytes / MiB, { minimumFractionDigits: 1, maximumFractionDigits: 1 }) });
}

/** A limit, without needless decimals: "5 MB", "100 KB", "1.5 MB". */
function limitSize(bytes) {
  const round = { maximumFractionDigits: 1 };
  return bytes >= MiB
    ? t("size.mb", { n: number(bytes / MiB, round) })
    : t("size.kb", { n: number(bytes / KiB, round) });
}

// ---- messages waiting to be sent

export const notConnectedQueued = () => t("status.queuedOffline");
export const unsentLabel = () => t("status.unsent");

/** The server said "rate limited": what waits is sent again by itself. */
export function rateLimitedWaiting(count) {
  return t("status.rateLimitedWaiting", { n: count });
}

export function unsentImage(file) {
  return t("status.unsentImage", { name: file.name || t("status.pastedImage") });
}

// ---- chats

/** The chosen chat was deleted under the user; what they were writing is kept. */
export function chatDeletedNamed(chat) {
  return t("status.chatDeletedNamed", { chat });
}

export function draftKeptAfterDelete(chat) {
  return t("status.draftKeptAfterDelete", { chat });
}

export const notSentChatOpening = () => t("status.notSentChatOpening");
export const notSentChatChanged = () => t("status.notSentChatChanged");
