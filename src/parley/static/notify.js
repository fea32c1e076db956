// Desktop notifications (the Notification API) for direct messages and mentions that come
// while the page is hidden or another chat is open. Off until the person turns them on
// (the switch in the account dialog); permission is asked only then, on that click.

import { t } from "./i18n.js";
import { storage } from "./state.js";
import { $ } from "./ui.js";

const SETTING_KEY = "parley.notifications";
const MAX_BODY = 160;

const supported = () => typeof window.Notification === "function";

export class Notifier {
  /** onOpen(chat, id) opens the chat at message `id` when a notification is clicked. */
  constructor(onOpen) {
    this.onOpen = onOpen;
    this.toggle = $("notify-toggle");
    this.toggle.addEventListener("change", () => this.switched());
    window.addEventListener("languagechange", () => this.draw());
    this.draw();
  }

  get enabled() {
    return storage.get(SETTING_KEY) === "on" && supported() && Notification.permission === "granted";
  }

  async switched() {
    if (!this.toggle.checked) {
      storage.set(SETTING_KEY, "off");
      this.draw();
      return;
    }
    if (!supported()) {
      this.draw();
      return;
    }
    // Asked here, on the person's own click, never unprompted.
    let permission = Notification.permission;
    if (permission === "default") {
      try {
        permission = await Notification.requestPermission();
      } catch {
        permission = Notification.permission;
      }
    }
    storage.set(SETTING_KEY, permission === "granted" ? "on" : "off");
    this.draw();
  }

  draw() {
    const on = this.enabled;
    this.toggle.checked = on;
    this.toggle.disabled = !supported();
    let note = "";
    if (!supported()) note = t("notify.unsupported");
    else if (Notification.permission === "denied") note = t("notify.blocked");
    $("notify-note").textContent = note;
    $("notify-note").hidden = note === "";
  }

  /**
   * Show one notification. title: the chat as named on screen; body: the words;
   * chat and id: where a click takes the person.
   */
  show({ title, body, chat, id }) {
    if (!this.enabled) return;
    let notification;
    try {
      notification = new Notification(title, { body: clip(body), tag: `parley:${chat}` });
    } catch {
      return; // e.g. a browser that allows them only from a service worker
    }
    notification.onclick = () => {
      window.focus();
      notification.close();
      this.onOpen(chat, id);
    };
  }

  /** The body for a message: its text, or a word for an image. */
  static messageBody(user, message) {
    const text = typeof message.text === "string" && message.text !== "" ? message.text : t("notify.image");
    return `${user}: ${text}`;
  }
}

function clip(text) {
  return text.length > MAX_BODY ? `${text.slice(0, MAX_BODY - 1)}…` : text;
}
