// Not a chat server: the reference load for measuring the generator alone.
//
// It speaks the same protocol subset as the other peers, but answers each
// message by writing its broadcast frame `--repeat` times in a single write
// to each member, so the server spends little per delivery and the generator
// becomes the bottleneck. The generator is told to expect `repeat` copies.

import crypto from 'node:crypto';
import net from 'node:net';
import { announce, Hub, parseArgs } from './chatcore.mjs';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const args = process.argv.slice(2);
const repeatAt = args.indexOf('--repeat');
const REPEAT = repeatAt >= 0 ? Number(args[repeatAt + 1]) : 20;
const { host, port } = parseArgs();
const hub = new Hub();

function serverFrame(text) {
  const payload = Buffer.from(text);
  let header;
  if (payload.length < 126) {
    header = Buffer.from([0x81, payload.length]);
  } else if (payload.length < 65536) {
    header = Buffer.alloc(4);
    header[0] = 0x81;
    header[1] = 126;
    header.writeUInt16BE(payload.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = 0x81;
    header[1] = 127;
    header.writeUInt32BE(payload.length, 6);
  }
  return Buffer.concat([header, payload]);
}

function onConnection(socket) {
  socket.setNoDelay(true);
  const conn = { handle: socket, user: null, room: null };
  let buf = Buffer.alloc(0);
  let open = false;
  socket.on('data', (chunk) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    if (!open) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.toString('latin1', 0, end);
      const key = /Sec-WebSocket-Key: *(\S+)/i.exec(head)?.[1] ?? '';
      const accept = crypto.createHash('sha1').update(key + GUID).digest('base64');
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
      );
      open = true;
      buf = buf.subarray(end + 4);
    }
    while (buf.length >= 6) {
      let length = buf[1] & 0x7f;
      let at = 2;
      if (length === 126) {
        length = buf.readUInt16BE(2);
        at = 4;
      } else if (length === 127) {
        length = buf.readUInt32BE(6);
        at = 10;
      }
      if (buf.length < at + 4 + length) break;
      const mask = buf.subarray(at, at + 4);
      const payload = Buffer.from(buf.subarray(at + 4, at + 4 + length));
      for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
      const opcode = buf[0] & 0x0f;
      buf = buf.subarray(at + 4 + length);
      if (opcode === 8) {
        socket.end();
        return;
      }
      if (opcode !== 1) continue;
      const { answer, room, frame } = hub.handle(conn, payload.toString());
      if (answer !== null) socket.write(serverFrame(answer));
      if (room !== null) {
        const one = serverFrame(frame);
        const burst = Buffer.concat(Array.from({ length: REPEAT }, () => one));
        for (const member of room.members) member.handle.write(burst);
      }
    }
  });
  socket.on('close', () => hub.leave(conn));
  socket.on('error', () => hub.leave(conn));
}

const server = net.createServer(onConnection);
server.listen({ host, port, backlog: 4096 }, () => announce(host, server.address().port));
