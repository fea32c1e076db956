// Steady tails: one room of `receivers` sockets, ONE of them sending at a fixed
// offered rate, for `stepSeconds` at each rate of `rates` (messages/s), open
// loop (message k of a step is due at start + k / rate, whatever happened
// before). Per rate: messages sent, deliveries, the latency of every delivery
// (p50, p99 and the maximum), lost deliveries, server, generator and others'
// CPU; and per 1-s window of due times, the count, p99 and maximum of the
// deliveries of the messages due in that window, so that spikes show over time.

import { Histogram } from './histogram.mjs';
import { Meter, nowUs, usageDelta, usageSample } from './meter.mjs';

const WINDOW_US = 1e6;

/** One histogram per window of due times, from `startUs`. */
class Windows {
  constructor(startUs, count) {
    this.startUs = startUs;
    this.hists = Array.from({ length: count }, () => new Histogram());
  }

  record(dueUs, latencyUs) {
    const i = Math.floor((dueUs - this.startUs) / WINDOW_US);
    const hist = this.hists[Math.min(this.hists.length - 1, Math.max(0, i))];
    hist.record(latencyUs);
  }

  summary() {
    return this.hists.map((hist, i) => {
      const s = hist.summary();
      return { t: i, count: s.count, p50_ms: s.p50_ms, p99_ms: s.p99_ms, max_ms: s.max_ms };
    });
  }
}

/** Sends `rate` messages/s from `sender` for `seconds`, each at its due time. */
function sendAtRate(meter, client, dialect, rate, seconds, startUs) {
  const total = Math.max(1, Math.round(rate * seconds));
  const intervalUs = 1e6 / rate;
  let k = 0;
  return new Promise((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor((nowUs() - startUs) / intervalUs) + 1);
      while (k < due) {
        const text = meter.nextText(client, Math.round(startUs + k * intervalUs));
        if (text === null) {
          k = total;
          break;
        }
        client.sendText(dialect.messageText(text));
        k++;
      }
      if (k >= total) {
        resolve();
        return;
      }
      // Wake at the next message's due time (timers fire at whole milliseconds).
      const waitUs = startUs + k * intervalUs - nowUs();
      setTimeout(tick, Math.max(0, Math.floor(waitUs / 1000)));
    };
    tick();
  });
}

export async function tails(env) {
  const { config, dialect, openClients, createRooms, joinRooms, otherFrames, log } = env;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const room = config.room;
  const clients = await openClients(config.receivers);
  await createRooms([room]);
  await joinRooms(clients, () => room);
  log(`${clients.length} clients in ${room}, one sender`);
  const meter = new Meter(config.maxMessages, config.textBytes);
  for (const client of clients) client.sink = meter.sink(otherFrames(meter));
  await sleep(config.settleMs ?? 1000);
  const sender = clients[0];
  const n = clients.length;
  const steps = [];
  for (const rate of config.rates) {
    const step = meter.beginStep(`${rate}`, n);
    const seconds = config.stepSeconds;
    const before = usageSample(config.serverPids);
    const startUs = nowUs();
    const startedMs = performance.timeOrigin + startUs / 1000; // wall clock, to align with logs
    const windows = new Windows(startUs, Math.ceil(seconds));
    step.series = windows;
    await sendAtRate(meter, sender, dialect, rate, seconds, startUs);
    const sendS = (nowUs() - startUs) / 1e6;
    const drainEnd = performance.now() + config.drainMs;
    while (step.delivered < step.expected && performance.now() < drainEnd) await sleep(10);
    const usage = usageDelta(before, usageSample(config.serverPids));
    const report = {
      rate,
      started_ms: startedMs,
      sent: step.sent,
      expected: step.expected,
      delivered: step.delivered,
      lost: step.expected - step.delivered,
      duplicates: step.duplicates,
      errors: step.errors,
      error_count: step.errorCount,
      latency: step.hist.summary(),
      send_s: sendS,
      ...usage,
      windows: windows.summary(),
    };
    steps.push(report);
    log(
      `${rate} msgs/s: ${report.sent} sent, ${report.delivered} deliveries,`,
      `p50 ${report.latency.p50_ms} p99 ${report.latency.p99_ms} max ${report.latency.max_ms} ms`,
      `lost ${report.lost} gen ${(report.generator_cpu * 100).toFixed(0)}%`,
      `srv ${(report.server_cpu * 100).toFixed(0)}% other ${(report.other_cpu * 100).toFixed(0)}%`,
    );
    await sleep(config.pauseMs);
  }
  for (const client of clients) client.close();
  return { connections: n, senders: 1, steps, unmatched: meter.unmatched };
}
