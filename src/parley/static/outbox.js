// Messages sent but not yet seen stored (part of the state, see state.js). After a
// reconnect they are sent again with the same Nonce, so the server stores each at
// most once; each is confirmed by its nonce, which the server echoes to the sender.

const MAX_RESENDS = 3; // reconnects after which an unanswered message is given back

export class Outbox {
  constructor() {
    this.entries = []; // oldest first: {payload, text, file, resends}
  }

  add(payload, draft) {
    this.entries.push({ payload, text: draft.text, file: draft.file, resends: 0 });
  }

  /**
   * Our own message came back stored: the server echoes its Nonce to the sender's own
   * sockets, and the entry sent with that nonce is done. (A message from another tab
   * carries that tab's nonce, so it confirms nothing here, whatever its text.)
   */
  confirm(message) {
    if (typeof message.nonce !== "string") return false;
    const i = this.entries.findIndex((entry) => entry.payload.Nonce === message.nonce);
    if (i >= 0) this.entries.splice(i, 1);
    return i >= 0;
  }

  /** The server refused the oldest unanswered message (answers come in order). */
  takeOldest() {
    return this.entries.shift();
  }

  clear() {
    this.entries = [];
  }

  /** Send everything again; returns the entries given up on (no answer after several tries). */
  resend(send) {
    const stuck = this.entries.filter((entry) => entry.resends >= MAX_RESENDS);
    this.entries = this.entries.filter((entry) => entry.resends < MAX_RESENDS);
    for (const entry of this.entries) {
      entry.resends += 1;
      send(entry.payload);
    }
    return stuck;
  }
}
