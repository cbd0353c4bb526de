#!/usr/bin/env node
// The least a Node program can do for `convert` of a qcow2 image to raw: copy the data extents
// it is told of (guest offset, host offset, length) into a new raw file, with reused page-aligned
// buffers and four requests in flight, and nothing else (no header, no tables, no zero
// detection). bench/convert.mjs times it beside both tools, so its ratio to qemu-img shows what
// Node's startup and file I/O alone cost on this machine. Not a tool: the extents come from
// `qemu-img map --output=json` of the source, made before the timing. Target `-` writes nothing:
// the floor of a convert *to* a format (read the source's data, the format's work left out).
//   node bench/node-copy-floor.mjs source.qcow2 extents.json target.raw|- size
import { close, ftruncateSync, openSync, read, readFileSync, write } from 'node:fs';

const [source, extentsFile, target, sizeText] = process.argv.slice(2);
const CHUNK = 2 * 2 ** 20;
const DEPTH = 4;
const extents = JSON.parse(readFileSync(extentsFile, 'utf8')).filter((e) => e.data);
const input = openSync(source, 'r');
const output = target === '-' ? undefined : openSync(target, 'w');
if (output !== undefined) ftruncateSync(output, Number(sizeText));

const pieces = [];
for (const { start, length, offset } of extents) {
  for (let at = 0; at < length; at += CHUNK) pieces.push({ guest: start + at, host: offset + at, length: Math.min(CHUNK, length - at) });
}
// A short read or write fails the run rather than making the floor look faster than it is.
const io = (call, fd, buffer, length, position) =>
  new Promise((resolve, reject) =>
    call(fd, buffer, 0, length, position, (error, bytes) => (error ? reject(error) : bytes !== length ? reject(new Error(`short I/O at ${position}`)) : resolve())),
  );
let next = 0;
async function worker() {
  // WebAssembly memory starts on a page boundary; the kernel copies into such buffers fastest.
  const buffer = new Uint8Array(new WebAssembly.Memory({ initial: CHUNK / 65536 }).buffer);
  while (next < pieces.length) {
    const { guest, host, length } = pieces[next++];
    await io(read, input, buffer, length, host);
    if (output !== undefined) await io(write, output, buffer, length, guest);
  }
}
await Promise.all(Array.from({ length: DEPTH }, worker));
if (output !== undefined) await new Promise((resolve) => close(output, resolve));
