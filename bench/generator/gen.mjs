// The load generator: `node gen.mjs CONFIG.json` runs one workload against
// one server and prints one JSON object (the result) on stdout. Progress goes
// to stderr. Every phase is bounded in time; the process exits by itself.
//
// Config keys (all workloads): mode, host, port, dialect ("parley" or
// "socketio"), users [{login, token}], serverPids [int], plus the keys read by
// each mode below.

import fs from 'node:fs';
import { Client, pool } from './client.mjs';
import { dialects } from './dialects.mjs';
import { Meter, nowUs, rssBytes, usageDelta, usageSample } from './meter.mjs';
import { pngWithText } from './png.mjs';
import { storm } from './storm.mjs';
import { tails } from './tails.mjs';
import { encodeText } from './wsclient.mjs';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const dialect = dialects[config.dialect];
const CONNECT_CONCURRENCY = config.connectConcurrency ?? 200;
const HARD_LIMIT_S = config.hardLimitSeconds ?? 600;

function log(...args) {
  process.stderr.write(`[gen ${config.mode}] ${args.join(' ')}\n`);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function userFor(index) {
  const users = config.users;
  return users[index % users.length];
}

/** Opens `count` logged-in clients numbered from `first`. */
async function openClients(count, first = 0) {
  return pool(Array.from({ length: count }, (_, i) => first + i), CONNECT_CONCURRENCY, async (i) => {
    const client = new Client(i, userFor(i), dialect, config.host, config.port);
    await client.open();
    await dialect.login(client, client.user);
    return client;
  });
}

/**
 * Creates `rooms` before the members log in, from short-lived clients one
 * after the other (each new chat is pushed to every logged-in socket), each
 * creating at most ROOMS_PER_OWNER so that no user owns too many.
 */
const ROOMS_PER_OWNER = 50;
async function createRooms(rooms) {
  if (dialect.name !== 'parley') return;
  for (let first = 0; first < rooms.length; first += ROOMS_PER_OWNER) {
    const [admin] = await openClients(1, first / ROOMS_PER_OWNER);
    for (const room of rooms.slice(first, first + ROOMS_PER_OWNER)) await dialect.create(admin, room);
    admin.close();
  }
}

async function joinRooms(clients, roomOf) {
  await pool(clients, CONNECT_CONCURRENCY, (client) =>
    dialect.join(client, roomOf(client.index), client.user),
  );
}

function closeAll(clients) {
  for (const client of clients) client.close();
}

/** Counts error answers and hands them to the meter; ignores pushes. */
function otherFrames(meter) {
  return (client, buf, start, end) => {
    const message = dialect.decode(buf, start, end);
    const error = dialect.messageError(message);
    if (error !== null) {
      meter.recordError(error);
      if (meter.onError) meter.onError(client);
    }
  };
}

function stepReport(step, usage) {
  const lost = step.expected - step.delivered;
  return {
    label: step.label,
    sent: step.sent,
    expected: step.expected,
    delivered: step.delivered,
    lost,
    duplicates: step.duplicates,
    errors: step.errors,
    error_count: step.errorCount,
    latency: step.hist.summary(),
    ...usage,
    deliveries_per_s: usage.wall_s > 0 ? step.delivered / usage.send_s : 0,
    server_cpu_ms_per_1000: step.delivered > 0 ? (usage.server_cpu_s * 1e6) / step.delivered : null,
    generator_saturated: usage.generator_cpu >= config.generatorCpuLimit,
  };
}

/**
 * Sends messages at `msgRate` per second for `seconds`, picking the sender of
 * message k with `senderOf(k)`, then waits until every delivery arrived or
 * `drainMs` passed. Returns the step and its usage.
 */
async function offeredStep(meter, label, msgRate, seconds, expectedPerMessage, senderOf) {
  const step = meter.beginStep(label, expectedPerMessage);
  const before = usageSample(config.serverPids);
  const startUs = nowUs();
  const total = Math.max(1, Math.round(msgRate * seconds));
  const intervalUs = 1e6 / msgRate;
  let k = 0;
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor((nowUs() - startUs) / intervalUs) + 1);
      while (k < due) {
        const client = senderOf(k);
        const text = meter.nextText(client, Math.round(startUs + k * intervalUs));
        if (text === null) {
          k = total;
          break;
        }
        client.sendText(dialect.messageText(text));
        k++;
      }
      if (k >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
  const sendS = (nowUs() - startUs) / 1e6;
  const drainEnd = performance.now() + config.drainMs;
  while (step.delivered < step.expected && performance.now() < drainEnd) await sleep(10);
  const usage = usageDelta(before, usageSample(config.serverPids));
  usage.send_s = sendS;
  usage.offered_msgs_per_s = msgRate;
  usage.offered_deliveries_per_s = msgRate * expectedPerMessage;
  return stepReport(step, usage);
}

function passes(report) {
  return (
    report.lost === 0 &&
    report.error_count === 0 &&
    report.latency.p99_ms !== null &&
    report.latency.p99_ms <= config.p99LimitMs
  );
}

/**
 * Steps the offered delivery rate up from `opts.startRate` by `opts.factor`
 * (`opts.stepSeconds` a step) until a step fails; if the first fails, halves
 * it a few times; then halves the gap between the last pass and the first
 * failure `opts.refine` times. A failed step taken while other programs used
 * the CPU is run again (at most `busyRetries` times). A warm-up step at half
 * the start rate comes first and is not reported.
 */
async function searchMax(meter, perMessage, senderOf, opts) {
  const steps = [];
  let best = null;
  let failed = null;
  const run = async (rate) => {
    const report = await offeredStep(meter, `${Math.round(rate)}`, rate / perMessage, opts.stepSeconds, perMessage, senderOf);
    report.pass = passes(report);
    steps.push(report);
    log(
      `offered ${Math.round(rate)}/s: got ${Math.round(report.deliveries_per_s)}/s`,
      `p50 ${report.latency.p50_ms} p99 ${report.latency.p99_ms} ms lost ${report.lost} err ${report.error_count}`,
      `gen ${(report.generator_cpu * 100).toFixed(0)}% srv ${(report.server_cpu * 100).toFixed(0)}%`,
      `other ${(report.other_cpu * 100).toFixed(0)}%`,
    );
    await sleep(config.pauseMs);
    return report;
  };
  let retries = config.busyRetries ?? 3;
  const measure = async (rate) => {
    let report = await run(rate);
    while (!report.pass && report.other_cpu > (config.busyCores ?? 0.3) && retries > 0) {
      retries--;
      report.retried = true;
      await sleep(config.busyWaitMs ?? 2000);
      report = await run(rate);
    }
    return report;
  };
  await offeredStep(meter, 'warm-up', opts.startRate / 2 / perMessage, config.warmupSeconds ?? 1, perMessage, senderOf);
  await sleep(config.pauseMs);
  const deadline = performance.now() + opts.maxSeconds * 1000;
  let rate = opts.startRate;
  for (let i = 0; i < opts.maxSteps && performance.now() < deadline; i++) {
    const report = await measure(rate);
    if (!report.pass || report.generator_saturated) {
      failed = report;
      break;
    }
    best = report;
    rate *= opts.factor;
  }
  for (let i = 0; i < 4 && best === null && failed !== null && !failed.generator_saturated; i++) {
    rate = failed.offered_deliveries_per_s / 2;
    if (rate < (config.minRate ?? 500) || performance.now() >= deadline) break;
    const report = await measure(rate);
    if (report.pass && !report.generator_saturated) best = report;
    else failed = report;
  }
  if (failed !== null && !failed.generator_saturated) {
    let low = best === null ? 0 : best.offered_deliveries_per_s;
    let high = failed.offered_deliveries_per_s;
    for (let i = 0; i < opts.refine && performance.now() < deadline && low > 0; i++) {
      const mid = (low + high) / 2;
      const report = await measure(mid);
      if (report.pass && !report.generator_saturated) {
        low = mid;
        if (best === null || report.deliveries_per_s > best.deliveries_per_s) best = report;
      } else {
        high = mid;
      }
    }
  }
  return {
    steps,
    best,
    max_deliveries_per_s: best === null ? 0 : best.deliveries_per_s,
    limited_by_generator: failed !== null && failed.generator_saturated,
  };
}

// fan-out: one room of `receivers` sockets, `senders` of them send; the
// highest delivery rate that passes (searchMax).
async function fanout() {
  const room = config.room;
  const clients = await openClients(config.receivers);
  await createRooms([room]);
  await joinRooms(clients, () => room);
  log(`${clients.length} clients in ${room}`);
  const meter = new Meter(config.maxMessages, config.textBytes);
  for (const client of clients) client.sink = meter.sink(otherFrames(meter));
  await sleep(300);
  const n = clients.length;
  const senders = Math.min(config.senders, n);
  const perMessage = n * (config.repeat ?? 1);
  const found = await searchMax(meter, perMessage, (k) => clients[k % senders], config);
  closeAll(clients);
  return { connections: n, senders, ...found, unmatched: meter.unmatched };
}

// many rooms: `rooms` rooms of `roomSize`; message k goes to room k % rooms,
// sent by its members in turn. The highest passing rate is found as in
// fan-out (steps of `searchStepSeconds`), then one step of `stepSeconds` runs
// at half of it: its latency and server CPU are the result.
async function manyRooms() {
  const roomCount = config.rooms;
  const size = config.roomSize;
  const names = Array.from({ length: roomCount }, (_, r) => `${config.room}-${r}`);
  await createRooms(names);
  const clients = await openClients(roomCount * size);
  await joinRooms(clients, (i) => names[Math.floor(i / size)]);
  log(`${clients.length} clients in ${roomCount} rooms`);
  const meter = new Meter(config.maxMessages, config.textBytes);
  for (const client of clients) client.sink = meter.sink(otherFrames(meter));
  await sleep(500);
  const senderOf = (k) => clients[(k % roomCount) * size + (Math.floor(k / roomCount) % size)];
  const found = await searchMax(meter, size, senderOf, { ...config, stepSeconds: config.searchStepSeconds });
  const rate = Math.max(config.minRate ?? 500, found.max_deliveries_per_s / 2);
  const half = async () => {
    const report = await offeredStep(meter, 'half', rate / size, config.stepSeconds, size, senderOf);
    report.pass = passes(report);
    log(
      `half of the maximum, ${Math.round(rate)}/s: p50 ${report.latency.p50_ms} p99 ${report.latency.p99_ms} ms`,
      `lost ${report.lost} gen ${(report.generator_cpu * 100).toFixed(0)}% srv ${(report.server_cpu * 100).toFixed(0)}%`,
    );
    return report;
  };
  let report = await half();
  if (!report.pass && report.other_cpu > (config.busyCores ?? 0.3) && (config.busyRetries ?? 1) > 0) {
    await sleep(config.busyWaitMs ?? 2000);
    report = await half();
    report.retried = true;
  }
  closeAll(clients);
  return {
    connections: clients.length,
    rooms: roomCount,
    room_size: size,
    max_deliveries_per_s: found.max_deliveries_per_s,
    limited_by_generator: found.limited_by_generator,
    steps: found.steps,
    step: report,
  };
}

// idle: `connections` clients logged in, in rooms of `roomSize`; memory delta.
async function idle() {
  const size = config.roomSize;
  const n = config.connections;
  const roomCount = Math.ceil(n / size);
  const names = Array.from({ length: roomCount }, (_, r) => `${config.room}-${r}`);
  await sleep(500);
  const rssBefore = rssBytes(config.serverPids);
  await createRooms(names);
  const started = performance.now();
  const clients = await openClients(n);
  await joinRooms(clients, (i) => names[Math.floor(i / size)]);
  const setupS = (performance.now() - started) / 1000;
  log(`${clients.length} clients in ${roomCount} rooms after ${setupS.toFixed(1)} s`);
  const before = usageSample(config.serverPids);
  await sleep(config.settleMs);
  const usage = usageDelta(before, usageSample(config.serverPids));
  const rssAfter = rssBytes(config.serverPids);
  const alive = clients.filter((c) => !c.ws.closed).length;
  closeAll(clients);
  return {
    connections: n,
    alive,
    rooms: roomCount,
    setup_s: setupS,
    rss_before: rssBefore,
    rss_after: rssAfter,
    bytes_per_connection: (rssAfter - rssBefore) / n,
    idle_server_cpu: usage.server_cpu,
    other_cpu: usage.other_cpu,
  };
}

/**
 * Closed loop: each sender keeps `window` messages in flight (an answer or its
 * own copy frees a slot) for `seconds`; `makeFrame(client, text)` builds the request.
 */
async function closedLoop(meter, clients, senders, expectedPerMessage, makeFrame) {
  const step = meter.beginStep('closed-loop', expectedPerMessage);
  let sending = true;
  const sendOne = (client) => {
    if (!sending) return;
    const text = meter.nextText(client, nowUs());
    if (text === null) return;
    client.outstanding++;
    client.sendFrame(makeFrame(client, text));
  };
  const free = (client) => {
    client.outstanding--;
    sendOne(client);
  };
  meter.onAck = free;
  meter.onError = free;
  const before = usageSample(config.serverPids);
  const startUs = nowUs();
  for (const client of senders) for (let w = 0; w < config.window; w++) sendOne(client);
  await sleep(config.stepSeconds * 1000);
  sending = false;
  const ackedInWindow = step.acked;
  const sendS = (nowUs() - startUs) / 1e6;
  const drainEnd = performance.now() + config.drainMs;
  while (step.delivered < step.expected && performance.now() < drainEnd) await sleep(10);
  const usage = usageDelta(before, usageSample(config.serverPids));
  usage.send_s = sendS;
  const report = stepReport(step, usage);
  report.acked = step.acked;
  report.acked_per_s = ackedInWindow / sendS;
  report.ack_latency = step.ackHist.summary();
  report.pass = report.lost === 0 && report.error_count === 0;
  log(
    `acked ${Math.round(report.acked_per_s)}/s deliveries ${Math.round(report.deliveries_per_s)}/s`,
    `p99 ${report.latency.p99_ms} ms lost ${report.lost} err ${report.error_count}`,
    `gen ${(report.generator_cpu * 100).toFixed(0)}% srv ${(report.server_cpu * 100).toFixed(0)}%`,
  );
  return report;
}

// store: `senders` clients, each alone in its own room, closed loop.
async function store() {
  const n = config.senders;
  const names = Array.from({ length: n }, (_, r) => `${config.room}-${r}`);
  await createRooms(names);
  const clients = await openClients(n);
  await joinRooms(clients, (i) => names[i]);
  const meter = new Meter(config.maxMessages, config.textBytes);
  for (const client of clients) client.sink = meter.sink(otherFrames(meter));
  await sleep(300);
  const report = await closedLoop(meter, clients, clients, 1, (_client, text) =>
    encodeText(dialect.messageText(text)),
  );
  closeAll(clients);
  return { connections: n, window: config.window, step: report };
}

// images: one room of `receivers`; `senders` of them send PNG images of about
// `imageBytes` (each one different), closed loop.
async function images() {
  const room = config.room;
  const clients = await openClients(config.receivers);
  await createRooms([room]);
  await joinRooms(clients, () => room);
  const meter = new Meter(config.maxMessages, config.textBytes);
  for (const client of clients) client.sink = meter.sink(otherFrames(meter));
  await sleep(300);
  const senders = clients.slice(0, Math.min(config.senders, clients.length));
  const report = await closedLoop(meter, clients, senders, clients.length, (_client, text) => {
    const png = pngWithText(config.imageBytes, text).toString('base64');
    return encodeText(dialect.imageMessage(text, png));
  });
  closeAll(clients);
  return { connections: clients.length, senders: senders.length, image_bytes: config.imageBytes, step: report };
}

// activity (Parley only): `members` sockets, one user each, all in room A but
// `away` of them, which then choose room B; the others stay in A, and `senders`
// of those send into A. With `pushes` the away sockets chose A once (they are
// its members, so each message in A owes them an `activity` push); without,
// they never did (no pushes, the same sockets and messages). Two steps: a fixed
// rate of `rate` messages/s, then a closed loop (`window` in flight per sender,
// the highest rate the server sustains). Message frames and activity frames are
// counted apart.
const ACTIVITY_MARK = Buffer.from('"Command":"activity"');
async function activity() {
  const room = config.room;
  const away = `${config.room}-away`;
  await createRooms([room, away]);
  const clients = await openClients(config.members);
  const present = clients.slice(0, config.members - config.away);
  const elsewhere = clients.slice(present.length);
  // Each away socket passes through A on its way to B (with pushes), before the
  // others come: few are in A at a time, so the presence deltas of the setup stay few.
  await pool(elsewhere, CONNECT_CONCURRENCY, async (client) => {
    if (config.pushes) await dialect.join(client, room);
    await dialect.join(client, away);
  });
  await joinRooms(present, () => room);
  log(`${present.length} in ${room}, ${elsewhere.length} in ${away}, pushes ${config.pushes}`);
  const meter = new Meter(config.maxMessages, config.textBytes);
  const counted = { activity: 0, activityHere: 0 };
  const others = otherFrames(meter);
  const onOther = (client, buf, start, end) => {
    const at = buf.indexOf(ACTIVITY_MARK, start);
    if (at >= 0 && at < end) {
      counted.activity++;
      if (client.index < present.length) counted.activityHere++;
    } else {
      others(client, buf, start, end);
    }
  };
  for (const client of clients) client.sink = meter.sink(onOther);
  await sleep(config.settleMs); // presence deltas of the setup, paced, go out first
  const senders = present.slice(0, config.senders);
  const measured = async (label, run) => {
    const before = counted.activity;
    const report = await run();
    report.activity_frames = counted.activity - before;
    report.activity_per_s = report.activity_frames / report.send_s;
    report.messages_per_s = report.sent / report.send_s;
    report.server_cpu_ms_per_1000_messages =
      report.sent > 0 ? (report.server_cpu_s * 1e6) / report.sent : null;
    log(
      `${label}: ${Math.round(report.messages_per_s)} msgs/s, ${Math.round(report.deliveries_per_s)} deliveries/s,`,
      `${Math.round(report.activity_per_s)} activity/s, p99 ${report.latency.p99_ms} ms lost ${report.lost}`,
      `srv ${(report.server_cpu * 100).toFixed(0)}% ${report.server_cpu_ms_per_1000_messages?.toFixed(0)} ms/1000 msgs`,
      `gen ${(report.generator_cpu * 100).toFixed(0)}% other ${(report.other_cpu * 100).toFixed(0)}%`,
    );
    await sleep(config.pauseMs); // the held pushes of the step go out between steps
    return report;
  };
  const fixed = await measured('fixed', () =>
    offeredStep(meter, 'fixed', config.rate, config.stepSeconds, present.length, (k) => senders[k % senders.length]),
  );
  const max = await measured('closed loop', () =>
    closedLoop(meter, clients, senders, present.length, (_client, text) => encodeText(dialect.messageText(text))),
  );
  closeAll(clients);
  return {
    connections: clients.length,
    present: present.length,
    away: elsewhere.length,
    senders: senders.length,
    pushes: Boolean(config.pushes),
    activity_to_present: counted.activityHere,
    fixed,
    max,
  };
}

// changes: one room of `receivers`; `senders` of them each post one message,
// then edit it again and again, closed loop (`window` edits in flight each; the
// edit's broadcast to the editor frees a slot). Every edit takes the chat's next
// change number, so the acked rate is the room's changes per second, and each
// edit frame carries its marker in the message's new text.
async function changes() {
  const room = config.room;
  const clients = await openClients(config.receivers);
  await createRooms([room]);
  await joinRooms(clients, () => room);
  const senders = clients.slice(0, Math.min(config.senders, clients.length));
  for (const sender of senders) {
    const text = `seed ${sender.index}`;
    const frame = await sender.request(
      { Type: 'chat', Command: 'message', Text: text },
      (m) => m.Command === 'message' && m.Message !== undefined && m.Message.text === text,
    );
    sender.ownId = frame.Message.id;
  }
  log(`${clients.length} clients in ${room}, ${senders.length} editing`);
  const meter = new Meter(config.maxMessages, config.textBytes);
  for (const client of clients) client.sink = meter.sink(otherFrames(meter));
  await sleep(300);
  const report = await closedLoop(meter, clients, senders, clients.length, (client, text) =>
    encodeText(`{"Type":"chat","Command":"edit","Id":${client.ownId},"Text":"${text}"}`),
  );
  closeAll(clients);
  return { connections: clients.length, senders: senders.length, window: config.window, step: report };
}

// register: creates `count` users and prints their tokens (Parley only).
async function register() {
  const indexes = Array.from({ length: config.count }, (_, i) => i);
  const started = performance.now();
  const users = await pool(indexes, config.concurrency, async (i) => {
    const login = `${config.prefix}${i}`;
    const client = new Client(i, null, dialect, config.host, config.port);
    await client.open();
    let answer = await dialect.register(client, login, config.password);
    if (answer.Status !== 'success') {
      answer = await dialect.login(client, { login, password: config.password });
    }
    client.close();
    return { login, token: answer.Token };
  });
  return { users, seconds: (performance.now() - started) / 1000 };
}

const modes = {
  fanout,
  rooms: manyRooms,
  idle,
  store,
  images,
  activity,
  changes,
  register,
  storm: () => storm({ config, dialect, openClients, createRooms, joinRooms, log }),
  tails: () => tails({ config, dialect, openClients, createRooms, joinRooms, otherFrames, log }),
};

async function main() {
  const hardStop = setTimeout(() => {
    log(`hard limit of ${HARD_LIMIT_S} s reached`);
    process.stdout.write(`${JSON.stringify({ mode: config.mode, error: 'time limit' })}\n`);
    process.exit(3);
  }, HARD_LIMIT_S * 1000);
  hardStop.unref();
  const mode = modes[config.mode];
  if (mode === undefined) throw new Error(`unknown mode ${config.mode}`);
  const result = await mode();
  // Sockets may linger in closing: leave once the result is out (a result longer than
  // the pipe's buffer, the tokens of thousands of users, takes a while on a busy machine).
  process.stdout.write(`${JSON.stringify({ mode: config.mode, ...result })}\n`, () =>
    setTimeout(() => process.exit(0), 50),
  );
}

main().catch((err) => {
  log(`failed: ${err.stack ?? err}`);
  process.stdout.write(`${JSON.stringify({ mode: config.mode, error: String(err.message ?? err) })}\n`);
  setTimeout(() => process.exit(2), 200);
});
