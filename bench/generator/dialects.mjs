// How the generator speaks to each kind of server.
//
// `parley`: Parley's JSON protocol (docs: /ws, account + chat commands). The
// Python and bare-ws peers speak the same subset (login, create, choice,
// message) so that one client drives them all.
// `socketio`: Engine.IO 4 / Socket.IO 5 framing over a plain WebSocket, with
// the events `join` {room, user} -> `joined`, and `message` text -> `message`
// {id, user, date, text} broadcast to the room.

const PING = 0x32; // Engine.IO "2"

export const parley = {
  name: 'parley',
  path: '/ws',
  /** Called once the upgrade is done; resolves when the session is usable. */
  async open() {},
  login(client, user) {
    const request = user.token
      ? { Type: 'account', Command: 'login', Token: user.token }
      : { Type: 'account', Command: 'login', Login: user.login, Password: user.password };
    return client.request(request, (m) => m.Type === 'account' && m.Command === 'login').then(
      (answer) => {
        if (answer.Status !== 'success') throw new Error(`login failed: ${JSON.stringify(answer)}`);
        return answer;
      },
    );
  },
  register(client, login, password) {
    return client.request(
      { Type: 'account', Command: 'registration', Login: login, Password: password },
      (m) => m.Type === 'account' && m.Command === 'registration',
    );
  },
  async create(client, room) {
    const answer = await client.request(
      { Type: 'chat', Command: 'create', Chat: room },
      (m) => m.Type === 'chat' && m.Command === 'create' && m.Status !== undefined,
    );
    if (answer.Status === 'success') return;
    if (answer.Status !== 'chat exist') throw new Error(`create failed: ${JSON.stringify(answer)}`);
  },
  async join(client, room) {
    const answer = await client.request(
      { Type: 'chat', Command: 'choice', Chat: room },
      (m) =>
        m.Type === 'chat' &&
        ((m.Command === 'choice' && m.Chat === room) || (m.Command === undefined && m.Status)),
    );
    if (answer.Command !== 'choice') throw new Error(`choice failed: ${JSON.stringify(answer)}`);
  },
  messageText(text) {
    return `{"Type":"chat","Command":"message","Text":"${text}"}`;
  },
  imageMessage(text, base64) {
    return `{"Type":"chat","Command":"message","Text":"${text}","Image":"${base64}"}`;
  },
  /** Decodes a frame that carries no benchmark marker (rare: answers, pushes). */
  decode(buf, start, end) {
    try {
      return JSON.parse(buf.toString('utf8', start, end));
    } catch {
      return null;
    }
  },
  /** An error answer to a message (or edit) request, or null. */
  messageError(m) {
    if (m === null || typeof m !== 'object') return 'undecodable frame';
    if (m.Type === 'error') return m.Status ?? 'error';
    if (m.Type === 'chat' && (m.Command === 'message' || m.Command === 'edit') && m.Status !== undefined) {
      return m.Status;
    }
    if (m.Type === 'chat' && m.Command === undefined && m.Status !== undefined) return m.Status;
    return null;
  },
  /** Handles protocol keep-alive in the hot path; true when the frame was one. */
  keepAlive() {
    return false;
  },
};

export const socketio = {
  name: 'socketio',
  path: '/socket.io/?EIO=4&transport=websocket',
  async open(client) {
    await client.waitRaw((text) => text.startsWith('0'));
    client.sendText('40');
    await client.waitRaw((text) => text.startsWith('40'));
  },
  async login() {},
  async create() {},
  async join(client, room, user) {
    client.sendText(`42${JSON.stringify(['join', { room, user: user.login }])}`);
    await client.waitRaw((text) => text.startsWith('42["joined"'));
  },
  messageText(text) {
    return `42["message","${text}"]`;
  },
  imageMessage(text, base64) {
    return `42["message","${text}","${base64}"]`;
  },
  decode(buf, start, end) {
    const text = buf.toString('utf8', start, end);
    if (!text.startsWith('42')) return { raw: text };
    try {
      return JSON.parse(text.slice(2));
    } catch {
      return null;
    }
  },
  messageError(m) {
    if (m === null) return 'undecodable frame';
    if (Array.isArray(m) && m[0] === 'failure') return String(m[1]);
    return null;
  },
  keepAlive(client, buf, start, end) {
    if (end - start === 1 && buf[start] === PING) {
      client.sendText('3');
      return true;
    }
    return false;
  },
};

export const dialects = { parley, socketio };
