// Messages sent but not yet seen stored. After a reconnect they are sent again
// with the same Nonce, so the server stores each at most once.

const MAX_RESENDS = 3; // reconnects after which an unanswered message is given back

export class Outbox {
  constructor() {
    this.entries = []; // oldest first: {payload, text, file, resends}
  }

  add(payload, draft) {
    this.entries.push({ payload, text: draft.text, file: draft.file, resends: 0 });
  }

  /** Our own message came back stored: the first entry that matches it is done. */
  confirm(message) {
    const i = this.entries.findIndex((entry) =>
      (entry.payload.Text ?? null) === (message.text ?? null)
      && Boolean(entry.payload.Image) === Boolean(message.image));
    if (i >= 0) this.entries.splice(i, 1);
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
