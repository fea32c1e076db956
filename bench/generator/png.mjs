// PNG images of a given size that differ from each other: random RGB pixels
// (which deflate cannot shrink) drawn once, plus a tEXt chunk carrying the
// message's marker, so every message is a distinct, valid image.

import crypto from 'node:crypto';
import zlib from 'node:zlib';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(data, zlib.crc32(head.subarray(4))) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

const cache = new Map();

function body(bytes) {
  let parts = cache.get(bytes);
  if (parts === undefined) {
    const side = Math.max(1, Math.round(Math.sqrt(bytes / 3)));
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(side, 0);
    ihdr.writeUInt32BE(side, 4);
    ihdr[8] = 8; // bit depth
    ihdr[9] = 2; // truecolour RGB
    const raw = Buffer.alloc((side * 3 + 1) * side);
    for (let y = 0; y < side; y++) {
      crypto.randomFillSync(raw, y * (side * 3 + 1) + 1, side * 3); // filter byte 0
    }
    const idat = zlib.deflateSync(raw, { level: 1 });
    parts = { head: Buffer.concat([SIGNATURE, chunk('IHDR', ihdr)]), tail: Buffer.concat([chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]) };
    cache.set(bytes, parts);
  }
  return parts;
}

/** A PNG of about `bytes` bytes whose tEXt chunk holds `text`. */
export function pngWithText(bytes, text) {
  const { head, tail } = body(bytes);
  const note = chunk('tEXt', Buffer.from(`Comment\0${text}`, 'latin1'));
  return Buffer.concat([head, note, tail]);
}
