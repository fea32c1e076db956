// Messages sent but not yet seen stored (part of the state, see state.js). After a
// reconnect they are sent again with the same Nonce, so the server stores each at
// most once; each is confirmed by its nonce, which the server echoes to the sender.
//
// An entry is "held" when it is known not to be stored yet and waits for its turn:
// the server answered "rate limited", or the page was offline when it was written.
// Held entries are shown as not sent, and sent again by themselves (app.js).

const MAX_RESENDS = 3; // reconnects after which an unanswered message is given back

export class Outbox {
  constructor() {
    this.entries = []; // oldest first: {payload, text, file, resends, held}
    this.limited = false; // the server said "too fast": new messages wait behind the held ones
    this.onChange = () => {};
  }

  add(payload, draft, { held = false } = {}) {
    this.entries.push({ payload, text: draft.text, file: draft.file, resends: 0, held });
    this.onChange();
  }

  /**
   * Our own message came back stored: the server echoes its Nonce to the sender's own
   * sockets, and the entry sent with that nonce is done. (A message from another tab
   * carries that tab's nonce, so it confirms nothing here, whatever its text.)
   */
  confirm(message) {
    if (typeof message.nonce !== "string") return false;
    const i = this.entries.findIndex((entry) => entry.payload.Nonce === message.nonce);
    if (i >= 0) {
      this.entries.splice(i, 1);
      if (!this.entries.some((entry) => entry.held)) this.limited = false;
      this.onChange();
    }
    return i >= 0;
  }

  /** The server refused the oldest message in flight (answers come in order). */
  takeOldest() {
    const i = this.entries.findIndex((entry) => !entry.held);
    const [entry] = this.entries.splice(i >= 0 ? i : 0, 1);
    this.onChange();
    return entry;
  }

  /** "rate limited": whatever is unconfirmed waits to be sent again; returns how many. */
  limit() {
    this.limited = true;
    for (const entry of this.entries) entry.held = true;
    this.onChange();
    return this.entries.length;
  }

  /** The held entries, oldest first (shown as not sent). */
  get held() {
    return this.entries.filter((entry) => entry.held);
  }

  /** Send the held entries again, in order, with their nonces; returns how many. */
  retry(send) {
    let sent = 0;
    for (const entry of this.held) {
      if (!send(entry.payload)) break;
      sent += 1;
    }
    return sent;
  }

  clear() {
    this.entries = [];
    this.limited = false;
    this.onChange();
  }

  /** Send everything again; returns the entries given up on (no answer after several tries). */
  resend(send) {
    const stuck = this.entries.filter((entry) => entry.resends >= MAX_RESENDS);
    this.entries = this.entries.filter((entry) => entry.resends < MAX_RESENDS);
    for (const entry of this.entries) {
      entry.resends += 1;
      if (!this.limited) entry.held = false;
      send(entry.payload);
    }
    this.onChange();
    return stuck;
  }
}
