// Peer: a bare Node.js `ws` server; broadcast is a loop of `send` over the room.
// Speaks Parley's protocol subset (see chatcore.py): any login, create,
// choice, message. Nothing is stored.

import http from 'node:http';
import { WebSocketServer } from 'ws';
import { announce, Hub, parseArgs } from './chatcore.mjs';

const { host, port } = parseArgs();
const hub = new Hub();
const server = http.createServer((_req, res) => {
  res.writeHead(404);
  res.end();
});
const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024 });

wss.on('connection', (ws) => {
  const conn = { handle: ws, user: null, room: null };
  ws.on('message', (data) => {
    const { answer, room, frame } = hub.handle(conn, data.toString());
    if (answer !== null) ws.send(answer);
    if (room !== null) {
      for (const member of room.members) member.handle.send(frame);
    }
  });
  ws.on('close', () => hub.leave(conn));
  ws.on('error', () => hub.leave(conn));
});

server.listen({ host, port, backlog: 4096 }, () => announce(host, server.address().port));
