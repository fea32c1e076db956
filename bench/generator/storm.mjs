// The reconnect storm (Parley alone): `members` sockets in one room, one more
// socket sending `rate` messages/s into it. After `warmSeconds` every member's
// socket drops at once (the TCP connection is destroyed, no close handshake),
// and each comes back at a random moment within `spreadSeconds`: a new
// socket, token login, `choice` with `After` = the newest id it had (again
// while a page is full). Sending goes on throughout and `tailSeconds` after the
// last socket is back.
//
// Measured: the storm's duration (drop to the last `choice` answer), the
// latency of every delivery of a message sent during the storm (live, or in a
// page: then the page's arrival is its arrival), loss and duplicates per user
// over the whole run (every user must end with ids 1..N once, in order), the
// presence frames (`connected` deltas) every socket received from the drop on,
// the server's CPU and peak RSS, and the latency of new logins made during the
// storm (a fresh socket and a token login every `probeMs`, by users not in the
// room). The ws peers keep no history, so they cannot answer `After`.

import { Client, pool } from './client.mjs';
import { Histogram } from './histogram.mjs';
import { nowUs, rssBytes, usageDelta, usageSample } from './meter.mjs';

const PAGE = 100; // a full page of `choice` with `After`
const RETRY_MS = 500; // a request answered `error` (the server could not do it) is sent again
const MESSAGE = Buffer.from('"Command":"message"');
const PRESENCE = Buffer.from('"Command":"connected"');

const within = (buf, mark, start, end) => {
  const at = buf.indexOf(mark, start);
  return at >= 0 && at < end;
};

/** What one user received, over both its sockets: each id, and how often twice. */
class Track {
  constructor() {
    this.seen = new Set();
    this.duplicates = 0;
    this.newest = 0; // every id up to this one was received
  }

  add(id) {
    if (this.seen.has(id)) {
      this.duplicates++;
      return;
    }
    this.seen.add(id);
    while (this.seen.has(this.newest + 1)) this.newest++;
  }

  lost(total) {
    let missing = total;
    for (const id of this.seen) if (id <= total) missing--;
    return missing;
  }
}

export async function storm(env) {
  const { config, dialect, openClients, createRooms, joinRooms, log } = env;
  const room = config.room;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  await createRooms([room]);
  // The sender first: once the members are in, the setup's presence deltas (one per
  // member to every member before it) keep the server busy for a while.
  const [sender] = await openClients(1, config.members);
  await dialect.join(sender, room);
  const members = await openClients(config.members);
  const probeUsers = config.users.slice(config.members + 1);
  log(`${members.length} in ${room}; ${probeUsers.length} users for new logins`);

  const sentAtUs = [0]; // by message id: when it was sent
  let stormFrom = Infinity; // ids at or after this were sent during the storm
  let stormTo = Infinity;
  const latency = new Histogram(); // every delivery of a storm message
  const live = new Histogram(); // those pushed live to a connected socket
  const tracks = members.map(() => new Track());
  const senderTrack = new Track();
  let presenceFrames = 0;
  let counting = false;
  const delivered = (track, id, atUs, pushed) => {
    track.add(id);
    if (id >= stormFrom && id < stormTo) {
      latency.record(atUs - sentAtUs[id]);
      if (pushed) live.record(atUs - sentAtUs[id]);
    }
  };
  const take = (track, frame) => {
    if (frame.Command === 'message' && frame.Message) delivered(track, frame.Message.id, nowUs(), true);
    else if (frame.Command === 'connected' && counting) presenceFrames++;
  };
  // Only message frames are decoded (the setup's presence deltas are many).
  const sink = (track) => (_client, buf, start, end) => {
    if (within(buf, MESSAGE, start, end)) take(track, JSON.parse(buf.toString('utf8', start, end)));
    else if (counting && within(buf, PRESENCE, start, end)) presenceFrames++;
  };
  // Each socket's sink is set as soon as it is in the room: the presence deltas of
  // the setup (one per member to every member before it) are only counted past.
  await pool(members, 200, async (client) => {
    await dialect.join(client, room);
    client.sink = sink(tracks[client.index]);
  });
  sender.sink = sink(senderTrack);
  await sleep(config.settleMs); // the setup's presence deltas, paced, go out first

  // The sender: message k is sent at k / rate; ids follow the order of sending.
  let sent = 0;
  let sending = true;
  const startUs = nowUs();
  const ticker = setInterval(() => {
    const due = Math.floor(((nowUs() - startUs) / 1e6) * config.rate);
    while (sending && sent < due) {
      sent++;
      sentAtUs[sent] = nowUs();
      sender.sendText(dialect.messageText(`m${sent}`));
    }
  }, 5);
  await sleep(config.warmSeconds * 1000);

  // The storm.
  const before = usageSample(config.serverPids);
  let peakRss = rssBytes(config.serverPids);
  const rssTimer = setInterval(() => {
    peakRss = Math.max(peakRss, rssBytes(config.serverPids));
  }, 50);
  counting = true;
  stormFrom = sent + 1;
  const dropUs = nowUs();
  for (const client of members) {
    client.ws.closed = true;
    client.ws.socket.destroy();
  }
  log(`dropped ${members.length} sockets after message ${sent}`);

  const loginLatency = new Histogram();
  let probing = true;
  let probeIndex = 0;
  const probes = [];
  const probe = async () => {
    const user = probeUsers[probeIndex++ % probeUsers.length];
    const t0 = nowUs();
    const client = new Client(100000 + probeIndex, user, dialect, config.host, config.port);
    await client.open();
    const list = client.waitRaw((text) => text.includes('"Command":"list"'));
    await dialect.login(client, user);
    loginLatency.record(nowUs() - t0);
    await list; // closed only once the login's work is done (see docs/benchmarks.md)
    client.close();
  };
  // One new login at a time, one every probeMs at most: the probes measure the
  // server, they do not add a storm of their own.
  const prober = (async () => {
    while (probing && probeUsers.length) {
      const next = sleep(config.probeMs);
      await probe().catch((err) => {
        errors.probe++;
        log(`probe: ${err}`);
      });
      await next;
    }
  })();
  probes.push(prober);

  const resumeLatency = new Histogram();
  const errors = { connect: 0, login: 0, choice: 0, probe: 0 };
  let lastBackUs = dropUs;
  const comeBack = async (i) => {
    await sleep(Math.random() * config.spreadSeconds * 1000);
    const t0 = nowUs();
    let client;
    for (;;) {
      client = new Client(i, members[i].user, dialect, config.host, config.port);
      try {
        await client.open();
        break;
      } catch (err) {
        if (++errors.connect > 10 * members.length) throw err;
        await sleep(RETRY_MS);
      }
    }
    for (;;) {
      try {
        await dialect.login(client, client.user);
        break;
      } catch (err) {
        if (!String(err.message).includes('"Status":"error"')) throw err;
        if (++errors.login > 50 * members.length) throw err;
        await sleep(RETRY_MS);
      }
    }
    // From here every frame comes to us (no request waits): pages, and the live
    // frames that follow each page.
    const track = tracks[i];
    await new Promise((resolve, reject) => {
      // After: the newest id it had, then (a full page) the page's last id
      let after = track.newest;
      const ask = () =>
        client.sendText(JSON.stringify({ Type: 'chat', Command: 'choice', Chat: room, After: after }));
      let paging = true;
      const plain = sink(track);
      client.sink = (c, buf, start, end) => {
        if (!paging) {
          plain(c, buf, start, end);
          return;
        }
        const frame = JSON.parse(buf.toString('utf8', start, end));
        if (frame.Type !== 'chat' || (frame.Command !== 'choice' && frame.Status === undefined)) {
          take(track, frame);
          return;
        }
        if (!Array.isArray(frame.Messages)) {
          if (frame.Status !== 'error') reject(new Error(`choice failed: ${JSON.stringify(frame)}`));
          else {
            errors.choice++;
            setTimeout(ask, RETRY_MS);
          }
          return;
        }
        const at = nowUs();
        for (const message of frame.Messages) delivered(track, message.id, at, false);
        if (frame.Messages.length) after = frame.Messages[frame.Messages.length - 1].id;
        if (frame.Messages.length < PAGE) {
          paging = false;
          resolve();
        } else ask();
      };
      ask();
    });
    resumeLatency.record(nowUs() - t0);
    lastBackUs = Math.max(lastBackUs, nowUs());
    return client;
  };
  // A storm the server does not come out of is reported, not waited for forever.
  let notBack = members.length;
  const returning = pool(members.map((_, i) => i), members.length, async (i) => {
    const client = await comeBack(i);
    notBack--;
    return client;
  });
  const gaveUp = sleep(config.stormLimitSeconds * 1000).then(() => null);
  const back = (await Promise.race([returning, gaveUp])) ?? [];
  if (notBack) log(`${notBack} sockets not back after ${config.stormLimitSeconds} s`);
  const durationS = (lastBackUs - dropUs) / 1e6;
  stormTo = sent + 1;
  probing = false;
  await Promise.all(probes);
  log(`all back after ${durationS.toFixed(2)} s; messages ${stormFrom}..${stormTo - 1} sent in the storm`);

  // Every user catches up: the storm is over when the newest message sent by then
  // has reached every socket.
  const caughtUpId = sent;
  while (tracks.some((t) => t.newest < caughtUpId) && nowUs() - lastBackUs < 60e6) await sleep(10);
  const caughtUpS = (nowUs() - dropUs) / 1e6;
  const after = usageSample(config.serverPids);
  clearInterval(rssTimer);
  await sleep(config.tailSeconds * 1000);
  sending = false;
  clearInterval(ticker);
  const total = sent;
  const deadline = nowUs() + config.drainMs * 1000;
  while (tracks.some((t) => t.newest < total) && nowUs() < deadline) await sleep(10);
  await sleep(500); // any presence delta still held (0.25 s windows)
  let lost = 0;
  let duplicates = 0;
  let usersWrong = 0;
  for (const t of tracks) {
    const missing = t.lost(total);
    lost += missing;
    duplicates += t.duplicates;
    if (missing || t.duplicates) usersWrong++;
  }
  for (const client of [...back, sender]) client.close();
  if (notBack) setTimeout(() => process.exit(0), 100).unref();
  const usage = usageDelta(before, after);
  return {
    connections: members.length,
    rate: config.rate,
    spread_s: config.spreadSeconds,
    messages: total,
    storm_messages: stormTo - stormFrom,
    duration_s: durationS,
    caught_up_s: caughtUpS,
    not_back: notBack,
    latency: latency.summary(),
    live_latency: live.summary(),
    resume: resumeLatency.summary(),
    new_logins: loginLatency.summary(),
    presence_frames: presenceFrames,
    // requests answered `error` during the storm, and sent again
    connect_errors: errors.connect,
    login_errors: errors.login,
    choice_errors: errors.choice,
    new_login_errors: errors.probe,
    presence_per_socket: presenceFrames / (members.length + 1),
    lost,
    duplicates,
    users_wrong: usersWrong,
    sender_lost: senderTrack.lost(total),
    peak_rss_mib: peakRss / 2 ** 20,
    server_cpu: usage.server_cpu,
    server_cpu_s: usage.server_cpu_s,
    generator_cpu: usage.generator_cpu,
    other_cpu: usage.other_cpu,
  };
}
