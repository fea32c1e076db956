// The WebSocket to the server, reconnecting with exponential backoff.
//
// Events (all CustomEvent, data in `detail`):
//   "open"    the socket is connected (a new one after every reconnect)
//   "frame"   one decoded JSON object from the server
//   "close"   the socket is gone; detail = {code, reason, retryInMs}
//   "retry"   a reconnect attempt is starting now

const MIN_DELAY_MS = 500;
const MAX_DELAY_MS = 15000;

export class Connection extends EventTarget {
  constructor(url) {
    super();
    this.url = url;
    this.socket = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = true;
    this.onOnline = () => this.retryNow();
  }

  get isOpen() {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  start() {
    this.stopped = false;
    window.addEventListener("online", this.onOnline);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.onOnline);
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000, "bye");
  }

  /** Send one request; returns false when the socket is not open. */
  send(obj) {
    if (!this.isOpen) return false;
    this.socket.send(JSON.stringify(obj));
    return true;
  }

  /** Skip the remaining backoff wait (e.g. when the browser is back online). */
  retryNow() {
    if (this.stopped || this.socket !== null) return;
    clearTimeout(this.timer);
    this.attempt = 0;
    this.connect();
  }

  connect() {
    this.timer = null;
    this.dispatchEvent(new CustomEvent("retry"));
    let socket;
    try {
      socket = new WebSocket(this.url);
    } catch (err) {
      this.socket = null;
      this.scheduleReconnect(1006, String(err));
      return;
    }
    this.socket = socket;
    socket.addEventListener("open", () => {
      if (socket !== this.socket) return;
      this.attempt = 0;
      this.dispatchEvent(new CustomEvent("open"));
    });
    socket.addEventListener("message", (event) => {
      if (socket !== this.socket) return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        console.warn("parley: ignoring a frame that is not JSON", event.data);
        return;
      }
      if (frame !== null && typeof frame === "object") {
        this.dispatchEvent(new CustomEvent("frame", { detail: frame }));
      }
    });
    socket.addEventListener("close", (event) => {
      if (socket !== this.socket) return;
      this.socket = null;
      this.scheduleReconnect(event.code, event.reason);
    });
  }

  scheduleReconnect(code, reason) {
    if (this.stopped) {
      this.dispatchEvent(new CustomEvent("close", { detail: { code, reason, retryInMs: null } }));
      return;
    }
    const base = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * 2 ** this.attempt);
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));
    this.attempt += 1;
    this.dispatchEvent(new CustomEvent("close", { detail: { code, reason, retryInMs: delay } }));
    this.timer = setTimeout(() => this.connect(), delay);
  }
}

/** The server's WebSocket address for the page being shown. */
export function defaultSocketUrl(location = window.location) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws`;
}
