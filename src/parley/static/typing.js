// "bob is typing…": sending `typing` while the person writes (at most once per 2 s), and
// showing who else is typing in the open chat (each for 5 s, or until their message comes).

import { t } from "./i18n.js";
import { state } from "./state.js";
import { $, sameUser } from "./ui.js";

const SEND_GAP_MS = 2000;
const SHOW_MS = 5000;

export class Typing {
  /** send(request) sends (false when offline). */
  constructor(send) {
    this.send = send;
    this.lastSent = 0;
    this.typists = new Map(); // name -> timer, in the order they started typing
    this.line = $("typing-line");
    $("text-input").addEventListener("input", (event) => {
      if (event.target.value.trim() !== "") this.typed();
    });
    window.addEventListener("languagechange", () => this.draw());
  }

  /** The person typed in the box: tell the chat, unless told less than 2 s ago. */
  typed() {
    if (state.chat === null || !state.loggedIn || state.choices.length > 0) return;
    const now = Date.now();
    if (now - this.lastSent < SEND_GAP_MS) return;
    if (this.send({ Type: "chat", Command: "typing" })) this.lastSent = now;
  }

  /** {"Type":"chat","Command":"typing","Chat":N,"User":U}: U is typing in N. */
  heard(frame) {
    if (frame.Status !== undefined || frame.Chat !== state.chat || typeof frame.User !== "string") return;
    if (sameUser(frame.User, state.me)) return;
    clearTimeout(this.typists.get(frame.User));
    this.typists.set(frame.User, setTimeout(() => this.stopped(frame.User), SHOW_MS));
    this.draw();
  }

  /** A message from `user` arrived, or their 5 s are over. */
  stopped(user) {
    for (const name of this.typists.keys()) {
      if (sameUser(name, user)) {
        clearTimeout(this.typists.get(name));
        this.typists.delete(name);
      }
    }
    this.draw();
  }

  /** Another chat is open (or none): nobody is typing there yet. */
  reset() {
    for (const timer of this.typists.values()) clearTimeout(timer);
    this.typists.clear();
    this.lastSent = 0;
    this.draw();
  }

  draw() {
    const names = [...this.typists.keys()];
    this.line.textContent = typingText(names);
    this.line.classList.toggle("active", names.length > 0);
  }
}

export function typingText(names) {
  if (names.length === 0) return "";
  if (names.length === 1) return t("typing.one", { name: names[0] });
  if (names.length === 2) return t("typing.two", { a: names[0], b: names[1] });
  return t("typing.many", { a: names[0], b: names[1], n: names.length - 2 });
}
