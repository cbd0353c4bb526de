#!/usr/bin/env node
// The least a Node NBD server can do to serve nbdcopy a qcow2 image read-only: bench/nbd-server.mjs
// times it beside tessera-nbd and qemu-nbd, so its ratio to qemu-nbd shows what Node's sockets,
// its reads from the page cache and its event loop alone cost, with no image format, no block
// layer and no checks. Not a server: the image's layout comes from `qemu-img map --output=json`
// made before the timing (guest runs, their host offsets), every request is assumed well formed,
// and only what nbdcopy (libnbd) asks for is answered: fixed newstyle, structured replies,
// base:allocation, NBD_OPT_GO, READ and BLOCK_STATUS. Data is read with one synchronous pread per
// run into a buffer reused once its reply has left (a cached read is a copy; the thread pool's
// hand-off costs more), and each request's reply chunks go out corked, as one writev.
// Reads are answered once the requests that arrived together have all been taken in (in the
// event loop's next check phase), as tessera-nbd's read batcher does. Answered at once instead,
// request by request, nbdcopy took twice the page faults (~41k against qemu-nbd's ~19k per 1 GiB:
// its allocator gave memory back between replies and faulted it in again) and its copies ~1.3x
// qemu-nbd's wall time, though this server used 0.7x qemu-nbd's CPU.
//   node bench/nbd-floor-server.mjs image.qcow2 extents.json socket-path
import { openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';

const [image, extentsFile, socketPath] = process.argv.slice(2);
const runs = JSON.parse(readFileSync(extentsFile, 'utf8')).map((e) => ({ start: e.start, end: e.start + e.length, data: e.data, host: e.offset }));
const size = runs.at(-1).end;
const fd = openSync(image, 'r');

const OPTION_REPLY_MAGIC = 0x3e889045565a9n;
const [OPT_GO, OPT_STRUCTURED_REPLY, OPT_SET_META_CONTEXT] = [7, 8, 10];
const [REP_ACK, REP_INFO, REP_META_CONTEXT, REP_ERR_UNSUP] = [1, 3, 4, 0x80000001];
const [CMD_READ, CMD_DISC, CMD_BLOCK_STATUS] = [0, 2, 7];
// HAS_FLAGS | READ_ONLY | SEND_DF | CAN_MULTI_CONN, as qemu-nbd -r offers.
const TRANSMISSION_FLAGS = 1 | 2 | (1 << 7) | (1 << 8);
const [REPLY_DATA, REPLY_HOLE, REPLY_BLOCK_STATUS] = [1, 2, 5];
const REPLY_DONE = 1;
const CONTEXT_ID = 1;

/** The index of the run holding guest offset `at` (runs are sorted and cover the disk). */
function runAt(at) {
  let [low, high] = [0, runs.length - 1];
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if (runs[mid].start <= at) low = mid;
    else high = mid - 1;
  }
  return low;
}

/** Reads exactly the bytes asked for from a socket, in order. */
function reader(socket) {
  let chunks = [];
  let held = 0;
  let waiting;
  socket.on('data', (chunk) => {
    chunks.push(chunk);
    held += chunk.length;
    if (waiting && held >= waiting.n) {
      const w = waiting;
      waiting = undefined;
      w.resolve(take(w.n));
    }
  });
  socket.on('close', () => waiting?.resolve(undefined));
  function take(n) {
    const all = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    chunks = all.length > n ? [all.subarray(n)] : [];
    held -= n;
    return all.subarray(0, n);
  }
  return (n) => (held >= n ? Promise.resolve(take(n)) : new Promise((resolve) => (waiting = { n, resolve })));
}

function optionReply(socket, option, type, data = Buffer.alloc(0)) {
  const head = Buffer.alloc(20);
  head.writeBigUInt64BE(OPTION_REPLY_MAGIC, 0);
  head.writeUInt32BE(option, 8);
  head.writeUInt32BE(type, 12);
  head.writeUInt32BE(data.length, 16);
  socket.write(Buffer.concat([head, data]));
}

function chunkHeader(cookie, flags, type, length, room) {
  const head = Buffer.allocUnsafe(20 + room);
  head.writeUInt32BE(0x668e33ef, 0);
  head.writeUInt16BE(flags, 4);
  head.writeUInt16BE(type, 6);
  cookie.copy(head, 8);
  head.writeUInt32BE(length, 16);
  return head;
}

/** Reply buffers of each size, reused once their reply has left. */
const free = new Map();

function serveRead(socket, cookie, offset, length) {
  const buffer = free.get(length)?.pop() ?? Buffer.allocUnsafeSlow(length);
  const reuse = () => (free.get(length) ?? free.set(length, []).get(length)).push(buffer);
  socket.cork();
  // One chunk per stretch of data or of holes (neighbouring runs of one kind are one chunk, as a
  // server's allocation walk merges them), each data run read where it lies on the host.
  for (let i = runAt(offset), at = offset, end = offset + length; at < end; ) {
    const data = runs[i].data;
    const from = at;
    for (; at < end && runs[i].data === data; i++) {
      const n = Math.min(end, runs[i].end) - at;
      if (data && readSync(fd, buffer, at - offset, n, runs[i].host + (at - runs[i].start)) !== n) throw new Error(`short read at ${at}`);
      at += n;
    }
    const last = at >= end;
    if (data) {
      const head = chunkHeader(cookie, last ? REPLY_DONE : 0, REPLY_DATA, 8 + (at - from), 8);
      head.writeBigUInt64BE(BigInt(from), 20);
      socket.write(head);
      socket.write(buffer.subarray(from - offset, at - offset), last ? reuse : undefined);
    } else {
      const head = chunkHeader(cookie, last ? REPLY_DONE : 0, REPLY_HOLE, 12, 12);
      head.writeBigUInt64BE(BigInt(from), 20);
      head.writeUInt32BE(at - from, 28);
      socket.write(head, last ? reuse : undefined);
    }
  }
  socket.uncork();
}

function serveBlockStatus(socket, cookie, offset, length) {
  const extents = [];
  for (let i = runAt(offset), at = offset, end = offset + length; at < end && extents.length < 1024; i++) {
    const run = runs[i];
    const n = Math.min(end, run.end) - at;
    // Neighbours of one kind merged, as a server reports them.
    if (extents.length && extents.at(-1).data === run.data) extents.at(-1).length += n;
    else extents.push({ length: n, data: run.data });
    at += n;
  }
  const payload = 4 + 8 * extents.length;
  const head = chunkHeader(cookie, REPLY_DONE, REPLY_BLOCK_STATUS, payload, payload);
  head.writeUInt32BE(CONTEXT_ID, 20);
  extents.forEach((e, i) => {
    head.writeUInt32BE(e.length, 24 + 8 * i);
    head.writeUInt32BE(e.data ? 0 : 3, 28 + 8 * i); // a hole that reads as zeroes
  });
  socket.write(head);
}

async function connection(socket) {
  const read = reader(socket);
  const hello = Buffer.alloc(18);
  hello.write('NBDMAGICIHAVEOPT', 0, 'latin1');
  hello.writeUInt16BE(1 | 2, 16); // FIXED_NEWSTYLE | NO_ZEROES
  socket.write(hello);
  await read(4); // the client's flags
  for (;;) {
    const head = await read(16);
    if (!head) return;
    const option = head.readUInt32BE(8);
    const data = await read(head.readUInt32BE(12));
    if (option === OPT_STRUCTURED_REPLY) optionReply(socket, option, REP_ACK);
    else if (option === OPT_SET_META_CONTEXT) {
      const context = Buffer.alloc(4);
      context.writeUInt32BE(CONTEXT_ID);
      optionReply(socket, option, REP_META_CONTEXT, Buffer.concat([context, Buffer.from('base:allocation')]));
      optionReply(socket, option, REP_ACK);
    } else if (option === OPT_GO) {
      const info = Buffer.alloc(12);
      info.writeBigUInt64BE(BigInt(size), 2);
      info.writeUInt16BE(TRANSMISSION_FLAGS, 10);
      optionReply(socket, option, REP_INFO, info);
      optionReply(socket, option, REP_ACK);
      break;
    } else optionReply(socket, option, REP_ERR_UNSUP);
  }
  let reads = [];
  const answerReads = () => {
    const queued = reads;
    reads = [];
    for (const [cookie, offset, length] of queued) serveRead(socket, cookie, offset, length);
  };
  for (;;) {
    const request = await read(28);
    if (!request) return;
    const type = request.readUInt16BE(6);
    const cookie = Buffer.from(request.subarray(8, 16));
    const offset = Number(request.readBigUInt64BE(16));
    const length = request.readUInt32BE(24);
    if (type === CMD_READ) {
      if (reads.push([cookie, offset, length]) === 1) setImmediate(answerReads);
    }
    else if (type === CMD_BLOCK_STATUS) serveBlockStatus(socket, cookie, offset, length);
    else if (type === CMD_DISC) return socket.end();
    else throw new Error(`the floor server serves reads and block status only (command ${type})`);
  }
}

rmSync(socketPath, { force: true });
createServer((socket) => {
  connection(socket).catch((error) => {
    console.error(error);
    socket.destroy();
  });
}).listen(socketPath);
