// The chat logic of the Node.js `ws` peer: the same protocol subset as
// chatcore.py (any login, rooms in memory, broadcast to the room).

export function parseArgs() {
  const args = process.argv.slice(2);
  const get = (name, fallback) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : fallback;
  };
  return { host: get('--host', '127.0.0.1'), port: Number(get('--port', '0')) };
}

export function announce(host, port) {
  process.stdout.write(`peer: listening on http://${host}:${port}\n`);
}

const ERROR_JSON = JSON.stringify({ Type: 'error', Status: 'error in json file' });

export class Hub {
  constructor() {
    this.rooms = new Map();
  }

  leave(conn) {
    if (conn.room !== null) {
      conn.room.members.delete(conn);
      conn.room = null;
    }
  }

  enter(conn, room) {
    this.leave(conn);
    room.members.add(conn);
    conn.room = room;
  }

  /** Returns {answer: string|null, room: Room|null, frame: string}. */
  handle(conn, text) {
    const none = { answer: null, room: null, frame: '' };
    let request;
    try {
      request = JSON.parse(text);
    } catch {
      return { ...none, answer: ERROR_JSON };
    }
    if (request === null || typeof request !== 'object') return { ...none, answer: ERROR_JSON };
    const { Type: type, Command: command, Chat: name } = request;
    if (type === 'account' && (command === 'login' || command === 'registration')) {
      conn.user = String(request.Token || request.Login || 'anonymous');
      const answer = { Type: 'account', Command: command, Status: 'success', User: conn.user, Token: conn.user };
      return { ...none, answer: JSON.stringify(answer) };
    }
    if (type !== 'chat' || conn.user === null) {
      return { ...none, answer: JSON.stringify({ Type: 'chat', Status: 'error in chat or user' }) };
    }
    if (command === 'create' && typeof name === 'string') {
      if (this.rooms.has(name)) {
        return { ...none, answer: JSON.stringify({ Type: 'chat', Command: 'create', Status: 'chat exist' }) };
      }
      const room = { name, members: new Set(), lastId: 0 };
      this.rooms.set(name, room);
      this.enter(conn, room);
      return { ...none, answer: JSON.stringify({ Type: 'chat', Command: 'create', Status: 'success', Chat: name }) };
    }
    if (command === 'choice' && typeof name === 'string') {
      const room = this.rooms.get(name);
      if (room === undefined) return { ...none, answer: JSON.stringify({ Type: 'chat', Status: 'error' }) };
      this.enter(conn, room);
      return { ...none, answer: JSON.stringify({ Type: 'chat', Command: 'choice', Chat: name, Messages: [] }) };
    }
    if (command === 'message') {
      const room = conn.room;
      const body = request.Text;
      if (room === null || typeof body !== 'string' || body === '') {
        const answer = { Type: 'chat', Command: 'message', Status: 'error in chat or user' };
        return { ...none, answer: JSON.stringify(answer) };
      }
      room.lastId += 1;
      const message = { id: room.lastId, user: conn.user, date: new Date().toISOString(), text: body };
      return { answer: null, room, frame: JSON.stringify({ Type: 'chat', Command: 'message', Message: message }) };
    }
    return { ...none, answer: ERROR_JSON };
  }
}
