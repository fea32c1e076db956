// What each protocol status means, in words for the person using the chat.

function withDetail(text, detail) {
  return typeof detail === "string" && detail.trim() !== "" ? `${text} (${detail.trim()})` : text;
}

export function registrationError(frame) {
  if (frame.Status === "user exist") return "That name is already taken. Please choose another one.";
  return withDetail("Could not sign up: the name or password is not allowed.", frame.Detail);
}

export function loginError() {
  return "Wrong name or password.";
}

export const SESSION_EXPIRED = "Your session has ended. Please log in again.";
export const LOGGED_OUT_EVERYWHERE = "You logged out on every device.";
export const PASSWORD_CHANGED = "Your password was changed. Your other devices were logged out.";

export function passwordError(frame) {
  switch (frame.Status) {
    case "rate limited":
      return "Too many attempts. Wait a minute, then try again.";
    case "error in chat or user":
      return "You need to be logged in to change your password.";
    case "error":
      if (typeof frame.Detail === "string" && frame.Detail !== "") {
        return withDetail("The new password is not allowed", frame.Detail);
      }
      return "The current password is wrong.";
    default:
      return withDetail(`The password was not changed (${frame.Status}).`, frame.Detail);
  }
}

export function createError(frame) {
  if (frame.Status === "chat exist") return "A chat with this name already exists.";
  if (frame.Status === "rate limited") return CHATS_TOO_FAST;
  if (frame.Status === "error in chat or user") return "You need to be logged in to create a chat.";
  return withDetail("Could not create the chat: the name is not allowed.", frame.Detail);
}

export const WRONG_PASSWORD = "Wrong password. Please try again.";
export const NO_SUCH_CHAT = "This chat does not exist any more.";
export const CHAT_DELETED = "This chat was deleted by its owner.";

export function messageError(frame) {
  switch (frame.Status) {
    case "failed to attach image":
      return "The server refused the attachment: it is not an image it accepts (PNG, JPEG, GIF or WebP), or it is too large. Nothing was sent.";
    case "rate limited":
      return "You are sending messages too fast. Wait a moment, then send again.";
    case "error in chat or user":
      return "Your message was not sent: you are not in a chat right now. Choose a chat and try again.";
    case "error":
      if (typeof frame.Detail === "string" && frame.Detail !== "") {
        return withDetail("Your message was not sent", frame.Detail);
      }
      return "The server could not save your message. Please try again in a moment.";
    default:
      return withDetail(`Your message was not sent (${frame.Status}).`, frame.Detail);
  }
}

const CHATS_TOO_FAST = "You are creating and deleting chats too fast. Wait a minute, then try again.";

export function deleteError(frame) {
  if (frame && frame.Status === "rate limited") return CHATS_TOO_FAST;
  return "Could not delete the chat: only its owner can delete it, and “general” can never be deleted.";
}

export function protocolError(frame) {
  return withDetail("The server did not understand a request from this page", frame.Detail);
}

export function closeReason(code) {
  if (code === 1009) return "The last message was too large for the server.";
  if (code === 1001) return "The server is restarting.";
  if (code === 4008) return "The connection fell behind.";
  if (code === 4001) return "You were logged out from another device.";
  return "";
}

/** Why `file` cannot be sent, or null; `maxBytes` and `types` are the server's limits. */
export function imageRefusal(file, { maxBytes, types }) {
  if (!file.type || !types.includes(file.type)) {
    return `“${file.name || "This file"}” is not an image that can be sent. Use PNG, JPEG, GIF or WebP.`;
  }
  if (file.size > maxBytes) {
    return `This image is too large (${fileSize(file.size)}). Images can be at most ${limitSize(maxBytes)}.`;
  }
  return null;
}

const MiB = 1024 * 1024;

function fileSize(bytes) {
  return bytes >= MiB ? `${(bytes / MiB).toFixed(1)} MB` : `${Math.ceil(bytes / 1024)} KB`;
}

function limitSize(bytes) {
  const round = (n) => String(Number(n.toFixed(1)));
  return bytes >= MiB ? `${round(bytes / MiB)} MB` : `${round(bytes / 1024)} KB`;
}

// ---- messages waiting to be sent

export const NOT_CONNECTED_QUEUED =
  "Not connected right now. Your message is kept and will be sent as soon as the connection is back.";
export const UNSENT_LABEL = "Not sent yet";

/** The server said "rate limited": what waits is sent again by itself. */
export function rateLimitedWaiting(count) {
  const what = count === 1 ? "1 message is" : `${count} messages are`;
  return `You are sending messages too fast. ${what} waiting and will be sent by itself in a moment.`;
}

export function unsentImage(file) {
  return `Image: ${file.name || "pasted image"}`;
}

// ---- chats

/** The chosen chat was deleted under the user; what they were writing is kept. */
export function chatDeletedNamed(chat) {
  return `“${chat}” was deleted by its owner.`;
}

export function draftKeptAfterDelete(chat) {
  return `“${chat}” was deleted. What you wrote is kept here: choose another chat to send it there.`;
}

export const NOT_SENT_CHAT_OPENING = "Not sent: another chat is being opened.";
export const NOT_SENT_CHAT_CHANGED = "Not sent: another chat was opened meanwhile.";
