// A DMG (UDIF) image maker for the tests, written from the format's description (no packaged
// Debian tool creates one): a data fork of chunks (zlib, bzip2, raw, zero, ignore, plus the
// comment and terminator entries readers skip), "mish" chunk tables in an XML property list's
// resource-fork/blkx array, or in a binary resource fork, and the 512-byte "koly" trailer.
import { execFileSync } from 'node:child_process';
import { deflateSync } from 'node:zlib';

export type ChunkKind = 'zlib' | 'bzip2' | 'raw' | 'zero' | 'ignore';

const TYPES: Record<ChunkKind | 'comment' | 'last', number> = {
  zero: 0,
  raw: 1,
  ignore: 2,
  zlib: 0x80000005,
  bzip2: 0x80000006,
  comment: 0x7ffffffe,
  last: 0xffffffff,
};

export interface DmgPart {
  readonly kind: ChunkKind;
  /** Guest bytes of the run (a multiple of 512); zero and ignore runs read as zeroes whatever they hold. */
  readonly data: Uint8Array;
}

export interface DmgOptions {
  /** Runs of each blkx entry (each becomes one mish block). */
  readonly blocks: readonly (readonly DmgPart[])[];
  /** Chunk tables in the XML property list (default) or in a binary resource fork. */
  readonly metadata?: 'xml' | 'resource-fork';
}

function be64(view: DataView, at: number, value: number): void {
  view.setBigUint64(at, BigInt(value));
}

function stored(part: DmgPart): Uint8Array {
  switch (part.kind) {
    case 'zlib':
      return deflateSync(part.data);
    case 'bzip2':
      return new Uint8Array(execFileSync('bzip2', ['-9', '-c'], { input: part.data }));
    case 'raw':
      return part.data;
    default:
      return new Uint8Array(0);
  }
}

/** A mish block: its header, then one 40-byte entry per chunk (and a comment and a terminator). */
function mish(firstSector: number, dataOffset: number, entries: { type: number; sector: number; count: number; offset: number; length: number }[]): Uint8Array {
  const all = [{ type: TYPES.comment, sector: 0, count: 0, offset: 0, length: 0 }, ...entries];
  const last = all.reduce((end, e) => Math.max(end, e.sector + e.count), 0);
  all.push({ type: TYPES.last, sector: last, count: 0, offset: 0, length: 0 });
  const block = new Uint8Array(204 + 40 * all.length);
  const view = new DataView(block.buffer);
  view.setUint32(0, 0x6d697368); // "mish"
  view.setUint32(4, 1);
  be64(view, 8, firstSector);
  be64(view, 0x10, last);
  be64(view, 0x18, dataOffset);
  view.setUint32(0x24, 0); // block descriptor
  view.setUint32(200, all.length);
  all.forEach((e, i) => {
    const at = 204 + 40 * i;
    view.setUint32(at, e.type);
    be64(view, at + 8, e.sector);
    be64(view, at + 0x10, e.count);
    be64(view, at + 0x18, e.offset);
    be64(view, at + 0x20, e.length);
  });
  return block;
}

const wrapped = (bytes: Uint8Array): string =>
  (Buffer.from(bytes).toString('base64').match(/.{1,52}/g) ?? []).map((line) => `\t\t\t\t${line}`).join('\n');

function plist(blocks: Uint8Array[]): Uint8Array {
  const entries = blocks.map(
    (block, i) => `\t\t\t<dict>
\t\t\t\t<key>Attributes</key>
\t\t\t\t<string>0x0050</string>
\t\t\t\t<key>CFName</key>
\t\t\t\t<string>partition ${i} (Apple_HFS : ${i})</string>
\t\t\t\t<key>Data</key>
\t\t\t\t<data>
${wrapped(block)}
\t\t\t\t</data>
\t\t\t\t<key>ID</key>
\t\t\t\t<string>${i}</string>
\t\t\t\t<key>Name</key>
\t\t\t\t<string>partition ${i} &amp; more</string>
\t\t\t</dict>`,
  );
  return new TextEncoder().encode(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
\t<key>resource-fork</key>
\t<dict>
\t\t<key>blkx</key>
\t\t<array>
${entries.join('\n')}
\t\t</array>
\t\t<key>plst</key>
\t\t<array>
\t\t\t<dict>
\t\t\t\t<key>Data</key>
\t\t\t\t<data>
\t\t\t\tAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
\t\t\t\t</data>
\t\t\t\t<key>ID</key>
\t\t\t\t<string>0</string>
\t\t\t</dict>
\t\t</array>
\t</dict>
</dict>
</plist>
`);
}

/** A binary resource fork as qemu reads it: data offset and length, then length-prefixed resources. */
function resourceFork(blocks: Uint8Array[]): Uint8Array {
  const body = blocks.flatMap((block) => {
    const length = new Uint8Array(4);
    new DataView(length.buffer).setUint32(0, block.length);
    return [length, block];
  });
  const data = Buffer.concat(body);
  const header = new Uint8Array(256);
  const view = new DataView(header.buffer);
  view.setUint32(0, 256);
  view.setUint32(8, data.length);
  return Buffer.concat([header, data]);
}

/** The image's bytes and its guest content (what a reader must return). */
export function makeDmg(options: DmgOptions): { image: Uint8Array; guest: Uint8Array } {
  const forkParts: Uint8Array[] = [];
  let forkLength = 0;
  const mishBlocks: Uint8Array[] = [];
  const guestParts: Uint8Array[] = [];
  let sector = 0;
  for (const parts of options.blocks) {
    // Each block's chunk offsets are relative to its own data offset in the fork.
    const dataOffset = forkLength;
    const firstSector = sector;
    const entries = parts.map((part) => {
      const bytes = stored(part);
      const entry = { type: TYPES[part.kind], sector: sector - firstSector, count: part.data.length / 512, offset: forkLength - dataOffset, length: bytes.length };
      forkParts.push(bytes);
      forkLength += bytes.length;
      sector += part.data.length / 512;
      guestParts.push(part.kind === 'zero' || part.kind === 'ignore' ? new Uint8Array(part.data.length) : part.data);
      return entry;
    });
    mishBlocks.push(mish(firstSector, dataOffset, entries));
  }
  const fork = Buffer.concat(forkParts);
  const metadata = options.metadata === 'resource-fork' ? resourceFork(mishBlocks) : plist(mishBlocks);
  const koly = new Uint8Array(512);
  const view = new DataView(koly.buffer);
  koly.set(new TextEncoder().encode('koly'));
  view.setUint32(4, 4);
  view.setUint32(8, 512);
  view.setUint32(12, 1); // flattened
  be64(view, 0x18, 0);
  be64(view, 0x20, fork.length);
  if (options.metadata === 'resource-fork') {
    be64(view, 0x28, fork.length);
    be64(view, 0x30, metadata.length);
  } else {
    be64(view, 0xd8, fork.length);
    be64(view, 0xe0, metadata.length);
  }
  view.setUint32(0x1e8, 1); // image variant: device image
  be64(view, 0x1ec, sector);
  return { image: Buffer.concat([fork, metadata, koly]), guest: Buffer.concat(guestParts) };
}

/** Guest data for runs: text markers, random bytes, zero stretches, so every chunk kind holds something distinct. */
export function sampleData(seed: number, sectors: number): Uint8Array {
  const out = new Uint8Array(sectors * 512);
  let x = seed;
  for (let s = 0; s < sectors; s++) {
    x = (x * 1103515245 + 12345) >>> 0;
    const kind = x % 3;
    for (let i = 0; i < 512; i++) out[s * 512 + i] = kind === 0 ? 0 : kind === 1 ? (s + i) & 0xff : (Math.imul(x, i + 7) >>> 24) & 0xff;
    new TextEncoder().encodeInto(`sector ${s} seed ${seed}`, out.subarray(s * 512));
  }
  return out;
}
