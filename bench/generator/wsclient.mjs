// A minimal WebSocket client (RFC 6455) over a raw TCP socket.
//
// It exists so that the load generator can receive several hundred thousand
// frames per second on one core: a frame is handed to the caller as a range of
// the receive buffer (no copy, no UTF-8 decoding, no event per frame), and all
// frames that arrive in one TCP read share one receive timestamp.
//
// Client frames use an all-zero masking key, so the payload needs no XOR on
// our side; servers still run their unmasking code as for any client.

import crypto from 'node:crypto';
import net from 'node:net';

const OP_CONT = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;

// Reads land here; a frame cut by the end of a read is copied out (`pending`).
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

function frameHeader(opcode, length) {
  let header;
  if (length < 126) {
    header = Buffer.allocUnsafe(6);
    header[1] = 0x80 | length;
  } else if (length < 65536) {
    header = Buffer.allocUnsafe(8);
    header[1] = 0x80 | 126;
    header.writeUInt16BE(length, 2);
  } else {
    header = Buffer.allocUnsafe(14);
    header[1] = 0x80 | 127;
    header.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    header.writeUInt32BE(length >>> 0, 6);
  }
  header[0] = 0x80 | opcode;
  header.writeUInt32BE(0, header.length - 4); // masking key 0: payload unchanged
  return header;
}

/** Encodes one masked client frame carrying `text` (ASCII or UTF-8). */
export function encodeText(text) {
  const length = Buffer.byteLength(text);
  const header = frameHeader(OP_TEXT, length);
  const frame = Buffer.allocUnsafe(header.length + length);
  header.copy(frame, 0);
  frame.write(text, header.length, 'utf8');
  return frame;
}

/**
 * One client connection.
 *
 * `onFrame(buf, start, end, nowMs)` is called for each complete text or binary
 * message; the payload is `buf[start:end]` and is only valid during the call.
 */
export class RawWebSocket {
  constructor(host, port, path) {
    this.host = host;
    this.port = port;
    this.path = path;
    this.socket = null;
    this.pending = null;
    this.fragments = null;
    this.onFrame = () => {};
    this.onClose = () => {};
    this.closed = false;
    this.bytesIn = 0;
  }

  /** Opens the TCP connection and completes the upgrade; rejects after `timeoutMs`. */
  connect(timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      const key = crypto.randomBytes(16).toString('base64');
      let head = Buffer.alloc(0);
      let upgraded = false;
      const onHandshakeData = (chunk) => {
        head = Buffer.concat([head, chunk]);
        const endOfHead = head.indexOf('\r\n\r\n');
        if (endOfHead < 0) return;
        const statusLine = head.toString('latin1', 0, head.indexOf('\r\n'));
        clearTimeout(timer);
        if (!/^HTTP\/1\.1 101/.test(statusLine)) {
          socket.destroy();
          reject(new Error(`upgrade refused: ${statusLine}`));
          return;
        }
        upgraded = true;
        const rest = head.subarray(endOfHead + 4);
        resolve(this);
        if (rest.length > 0) this._onData(rest);
      };
      // `onread` hands every read to us in one shared buffer, without the
      // stream machinery and without allocating a Buffer per read.
      const socket = net.connect({
        host: this.host,
        port: this.port,
        onread: {
          buffer: READ_BUFFER,
          callback: (nread, buf) => {
            const chunk = buf.subarray(0, nread);
            if (upgraded) this._onData(chunk);
            else onHandshakeData(Buffer.from(chunk));
          },
        },
      });
      this.socket = socket;
      socket.setNoDelay(true);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error('WebSocket handshake timed out'));
      }, timeoutMs);
      socket.on('error', (err) => {
        clearTimeout(timer);
        if (!upgraded) reject(err);
      });
      socket.on('close', () => {
        clearTimeout(timer);
        this.closed = true;
        if (!upgraded) reject(new Error('connection closed during handshake'));
        else this.onClose();
      });
      socket.write(
        `GET ${this.path} HTTP/1.1\r\n` +
          `Host: ${this.host}:${this.port}\r\n` +
          'Upgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
  }

  sendText(text) {
    if (!this.closed) this.socket.write(encodeText(text));
  }

  sendFrame(frame) {
    if (!this.closed) this.socket.write(frame);
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    const frame = frameHeader(OP_CLOSE, 2);
    const payload = Buffer.from([0x03, 0xe8]);
    this.socket.end(Buffer.concat([frame, payload]));
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  _control(opcode, buf, start, end) {
    if (opcode === OP_PING) {
      const payload = buf.subarray(start, end);
      const header = frameHeader(0xa, payload.length);
      this.socket.write(Buffer.concat([header, payload]));
    } else if (opcode === OP_CLOSE) {
      this.closed = true;
      this.socket.end();
    }
  }

  _onData(chunk) {
    const nowMs = performance.now();
    this.bytesIn += chunk.length;
    const buf = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    const n = buf.length;
    let off = 0;
    while (n - off >= 2) {
      const b0 = buf[off];
      const b1 = buf[off + 1];
      let length = b1 & 0x7f;
      let header = 2;
      if (length === 126) {
        if (n - off < 4) break;
        length = buf.readUInt16BE(off + 2);
        header = 4;
      } else if (length === 127) {
        if (n - off < 10) break;
        length = buf.readUInt32BE(off + 2) * 2 ** 32 + buf.readUInt32BE(off + 6);
        header = 10;
      }
      if (b1 & 0x80) header += 4; // servers never mask; tolerated, not unmasked
      const start = off + header;
      const end = start + length;
      if (end > n) break;
      const opcode = b0 & 0x0f;
      const fin = (b0 & 0x80) !== 0;
      if (opcode === OP_TEXT || opcode === OP_BINARY) {
        if (fin) this.onFrame(buf, start, end, nowMs);
        else this.fragments = [Buffer.from(buf.subarray(start, end))];
      } else if (opcode === OP_CONT) {
        if (this.fragments !== null) {
          this.fragments.push(Buffer.from(buf.subarray(start, end)));
          if (fin) {
            const whole = Buffer.concat(this.fragments);
            this.fragments = null;
            this.onFrame(whole, 0, whole.length, nowMs);
          }
        }
      } else {
        this._control(opcode, buf, start, end);
      }
      off = end;
    }
    this.pending = off < n ? Buffer.from(buf.subarray(off)) : null;
  }
}
