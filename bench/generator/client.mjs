// A benchmark client: a raw WebSocket plus request/answer helpers for setup.
//
// During setup every frame is decoded and offered to the waiting requests.
// Once `sink` is set (the measuring phase) frames go straight to it undecoded.

import { RawWebSocket } from './wsclient.mjs';

const REQUEST_TIMEOUT_MS = 60000;
// Frames that came before anyone waited for them (e.g. in the same read as the
// upgrade answer) are kept, a few, for the next wait.
const UNCLAIMED_KEPT = 64;

export class Client {
  constructor(index, user, dialect, host, port) {
    this.index = index;
    this.user = user;
    this.dialect = dialect;
    this.ws = new RawWebSocket(host, port, dialect.path);
    this.waiters = [];
    this.unclaimed = [];
    this.sink = null;
    this.outstanding = 0;
    this.ws.onFrame = (buf, start, end, nowMs) => this._onFrame(buf, start, end, nowMs);
  }

  async open() {
    await this.ws.connect();
    await this.dialect.open(this);
    return this;
  }

  sendText(text) {
    this.ws.sendText(text);
  }

  sendFrame(frame) {
    this.ws.sendFrame(frame);
  }

  close() {
    this.ws.close();
  }

  /** Sends a JSON request and resolves with the first decoded frame that `match`es. */
  request(message, match) {
    const promise = this._wait(match, false);
    this.sendText(JSON.stringify(message));
    return promise;
  }

  /** Resolves with the first frame whose text satisfies `match`. */
  waitRaw(match) {
    return this._wait(match, true);
  }

  _wait(match, raw) {
    for (let i = 0; i < this.unclaimed.length; i++) {
      const value = this._offer(this.unclaimed[i], { match, raw });
      if (value !== undefined) {
        this.unclaimed.splice(i, 1);
        return Promise.resolve(value);
      }
    }
    return new Promise((resolve, reject) => {
      const waiter = { match, raw, resolve, reject, timer: null };
      waiter.timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`client ${this.index}: no answer within ${REQUEST_TIMEOUT_MS} ms`));
      }, REQUEST_TIMEOUT_MS);
      this.waiters.push(waiter);
    });
  }

  /** The value `waiter` takes from frame `text`, or undefined when it does not match. */
  _offer(text, waiter) {
    let value = text;
    if (!waiter.raw) {
      try {
        value = JSON.parse(text);
      } catch {
        return undefined;
      }
    }
    try {
      return waiter.match(value) ? value : undefined;
    } catch {
      return undefined;
    }
  }

  _onFrame(buf, start, end, nowMs) {
    if (this.sink !== null && this.waiters.length === 0) {
      this.sink(this, buf, start, end, nowMs);
      return;
    }
    if (this.dialect.keepAlive(this, buf, start, end)) return;
    const text = buf.toString('utf8', start, end);
    for (const waiter of this.waiters) {
      const value = this._offer(text, waiter);
      if (value !== undefined) {
        clearTimeout(waiter.timer);
        this.waiters = this.waiters.filter((w) => w !== waiter);
        waiter.resolve(value);
        return;
      }
    }
    if (this.sink === null) {
      this.unclaimed.push(text);
      if (this.unclaimed.length > UNCLAIMED_KEPT) this.unclaimed.shift();
    }
  }
}

/** Runs `fn` over `items` with at most `limit` calls in flight; keeps order of results. */
export async function pool(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
