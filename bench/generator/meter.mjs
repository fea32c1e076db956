// Counting deliveries: every benchmark message's text starts with a marker,
// its sequence number and the time it was due to be sent, `%%B<seq>.<us>.`,
// so a delivery is recognised and timed by scanning bytes, without decoding
// JSON. Each message belongs to the step in which it was sent.

import fs from 'node:fs';
import { Histogram } from './histogram.mjs';

const MARK = Buffer.from('%%B');
const DOT = 0x2e;
const FILLER = 'the quick brown fox jumps over the lazy dog '.repeat(100);

export function nowUs() {
  return Math.round(performance.now() * 1000);
}

export class Step {
  constructor(label, startSeq, expectedPerMessage) {
    this.label = label;
    this.startSeq = startSeq;
    this.endSeq = startSeq;
    this.expectedPerMessage = expectedPerMessage;
    this.hist = new Histogram();
    this.delivered = 0; // distinct (message, receiver) deliveries, capped per message
    this.duplicates = 0;
    this.acked = 0;
    this.ackHist = new Histogram();
    this.errors = {};
    this.errorCount = 0;
    this.series = null; // optional: `record(dueUs, latencyUs)` of every delivery counted
  }

  get sent() {
    return this.endSeq - this.startSeq;
  }

  get expected() {
    return this.sent * this.expectedPerMessage;
  }
}

export class Meter {
  constructor(maxMessages, textBytes) {
    this.maxMessages = maxMessages;
    this.received = new Uint32Array(maxMessages);
    this.sender = new Int32Array(maxMessages).fill(-1);
    this.seq = 0;
    this.steps = [];
    this.textBytes = textBytes;
    this.onAck = null; // (client, seq) for closed-loop workloads
    this.unmatched = 0;
  }

  beginStep(label, expectedPerMessage) {
    const step = new Step(label, this.seq, expectedPerMessage);
    this.steps.push(step);
    return step;
  }

  get current() {
    return this.steps[this.steps.length - 1];
  }

  /** The text of the next message, sent by `client` and due at `dueUs`. */
  nextText(client, dueUs) {
    if (this.seq >= this.maxMessages) return null;
    const seq = this.seq++;
    this.sender[seq] = client.index;
    this.current.endSeq = this.seq;
    const head = `%%B${seq}.${dueUs}.`;
    const pad = Math.max(0, this.textBytes - head.length);
    return head + FILLER.slice(0, pad);
  }

  stepOf(seq) {
    let i = this.steps.length - 1;
    while (i > 0 && seq < this.steps[i].startSeq) i--;
    return this.steps[i];
  }

  /** The frame sink: records a delivery, or hands other frames to `other`. */
  sink(other) {
    const received = this.received;
    const sender = this.sender;
    return (client, buf, start, end, nowMs) => {
      const at = buf.indexOf(MARK, start);
      if (at < 0 || at + 3 >= end) {
        if (!client.dialect.keepAlive(client, buf, start, end)) other(client, buf, start, end);
        return;
      }
      let p = at + 3;
      let seq = 0;
      let c = buf[p];
      while (c !== DOT && p < end) {
        seq = seq * 10 + (c - 48);
        c = buf[++p];
      }
      p++;
      let due = 0;
      c = buf[p];
      while (c !== DOT && p < end) {
        due = due * 10 + (c - 48);
        c = buf[++p];
      }
      if (seq >= this.seq) {
        this.unmatched++;
        return;
      }
      const step = this.stepOf(seq);
      const latency = nowMs * 1000 - due;
      const count = ++received[seq];
      if (count <= step.expectedPerMessage) {
        step.delivered++;
        step.hist.record(latency);
        if (step.series !== null) step.series.record(due, latency);
      } else {
        step.duplicates++;
      }
      if (sender[seq] === client.index && this.onAck !== null) {
        step.acked++;
        step.ackHist.record(latency);
        this.onAck(client, seq);
      }
    };
  }

  recordError(reason) {
    const step = this.current;
    if (step === undefined) return;
    step.errorCount++;
    step.errors[reason] = (step.errors[reason] ?? 0) + 1;
  }
}

/** CPU seconds used so far by the processes `pids` (user + system). */
export function cpuSeconds(pids) {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // the process is gone; its time is lost to us
    }
  }
  return ticks / 100;
}

/** Resident memory (bytes) of the processes `pids`. */
export function rssBytes(pids) {
  let kb = 0;
  for (const pid of pids) {
    try {
      const status = fs.readFileSync(`/proc/${pid}/status`, 'latin1');
      const match = /VmRSS:\s+(\d+) kB/.exec(status);
      if (match) kb += Number(match[1]);
    } catch {
      // gone
    }
  }
  return kb * 1024;
}

/** CPU seconds the whole machine spent busy (all cores, from /proc/stat). */
function machineBusySeconds() {
  try {
    const line = fs.readFileSync('/proc/stat', 'latin1').split('\n', 1)[0];
    const ticks = line.trim().split(/\s+/).slice(1).map(Number);
    const total = ticks.slice(0, 8).reduce((a, b) => a + b, 0); // up to steal
    return (total - ticks[3] - ticks[4]) / 100; // less idle and iowait
  } catch {
    return 0;
  }
}

/** Generator CPU (fraction of one core) and server CPU between two samples. */
export function usageSample(serverPids) {
  const cpu = process.cpuUsage();
  return {
    wallMs: performance.now(),
    genCpuS: (cpu.user + cpu.system) / 1e6,
    serverCpuS: cpuSeconds(serverPids),
    machineBusyS: machineBusySeconds(),
  };
}

export function usageDelta(before, after) {
  const wallS = (after.wallMs - before.wallMs) / 1000;
  return {
    wall_s: wallS,
    generator_cpu: wallS > 0 ? (after.genCpuS - before.genCpuS) / wallS : 0,
    server_cpu_s: after.serverCpuS - before.serverCpuS,
    server_cpu: wallS > 0 ? (after.serverCpuS - before.serverCpuS) / wallS : 0,
    // Cores' worth of CPU used by anything but the server and the generator
    // (other programs, and kernel work not charged to either process).
    other_cpu:
      wallS > 0
        ? Math.max(
            0,
            (after.machineBusyS - before.machineBusyS -
              (after.serverCpuS - before.serverCpuS) -
              (after.genCpuS - before.genCpuS)) / wallS,
          )
        : 0,
  };
}
