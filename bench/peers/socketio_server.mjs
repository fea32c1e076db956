// Peer: Node.js Socket.IO 4 with rooms and `io.to(room).emit(...)`.

import http from 'node:http';
import { Server } from 'socket.io';
import { announce, parseArgs } from './chatcore.mjs';

const { host, port } = parseArgs();
const server = http.createServer();
const io = new Server(server, {
  transports: ['websocket'],
  perMessageDeflate: false,
  serveClient: false,
  maxHttpBufferSize: 16 * 1024 * 1024,
});
const lastId = new Map();

io.on('connection', (socket) => {
  socket.on('join', (data) => {
    const room = String(data.room);
    if (socket.data.room !== undefined) socket.leave(socket.data.room);
    socket.join(room);
    socket.data.room = room;
    socket.data.user = String(data.user ?? 'anonymous');
    socket.emit('joined', room);
  });
  socket.on('message', (text) => {
    const room = socket.data.room;
    if (room === undefined) {
      socket.emit('failure', 'error in chat or user');
      return;
    }
    const id = (lastId.get(room) ?? 0) + 1;
    lastId.set(room, id);
    io.to(room).emit('message', { id, user: socket.data.user, date: new Date().toISOString(), text });
  });
});

server.listen({ host, port, backlog: 4096 }, () => announce(host, server.address().port));
