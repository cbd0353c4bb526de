import { createServer, type AddressInfo, type Socket } from 'node:net';

// A scripted NBD server for the faults no real server commits (a reply longer than asked, a chunk
// outside the request, a huge name, silence after the handshake): it does a correct fixed newstyle
// handshake for one export, then answers requests as the test's `answer` says.

const u16 = (n: number) => Buffer.from([n >> 8, n & 255]);
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const u64 = (n: bigint | number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
};

export interface Request {
  readonly type: number;
  readonly cookie: Buffer;
  readonly offset: number;
  readonly length: number;
}

export interface Script {
  /** Export size and transmission flags sent in NBD_INFO_EXPORT. */
  readonly size?: bigint;
  readonly flags?: number;
  /** Bytes of an NBD_REP_SERVER reply to NBD_OPT_LIST, when set (else an empty list). */
  readonly listReply?: Buffer;
  /** Acknowledge NBD_OPT_STARTTLS and then say nothing (a TLS handshake that never comes); else STARTTLS is unsupported. */
  readonly silentAfterStartTls?: boolean;
  /** What to send for a request (nothing: stay silent). */
  answer?(request: Request): Buffer | undefined;
}

/** A structured reply chunk. */
export function chunk(cookie: Buffer, type: number, payload: Buffer, done = true): Buffer {
  return Buffer.concat([u32(0x668e33ef), u16(done ? 1 : 0), u16(type), cookie, u32(payload.length), payload]);
}

export function offsetData(cookie: Buffer, offset: number, data: Buffer, done = true): Buffer {
  return chunk(cookie, 1, Buffer.concat([u64(offset), data]), done);
}

export async function startScriptedServer(script: Script): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    void serve(socket, script);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `nbd://127.0.0.1:${(server.address() as AddressInfo).port}/disk`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function serve(socket: Socket, script: Script): Promise<void> {
  let buffered = Buffer.alloc(0);
  let wake: (() => void) | undefined;
  socket.on('data', (data: Buffer) => {
    buffered = Buffer.concat([buffered, data]);
    wake?.();
  });
  const read = async (n: number): Promise<Buffer> => {
    while (buffered.length < n) await new Promise<void>((resolve) => (wake = resolve));
    const out = buffered.subarray(0, n);
    buffered = buffered.subarray(n);
    return out;
  };
  const reply = (option: number, type: number, data: Buffer) =>
    socket.write(Buffer.concat([u64(0x3e889045565a9n), u32(option), u32(type), u32(data.length), data]));
  socket.write(Buffer.concat([Buffer.from('NBDMAGICIHAVEOPT'), u16(3)]));
  await read(4);
  for (;;) {
    const header = await read(16);
    const option = header.readUInt32BE(8);
    const data = await read(header.readUInt32BE(12));
    if (option === 8) reply(option, 1, Buffer.alloc(0));
    else if (option === 10) {
      reply(option, 4, Buffer.concat([u32(1), Buffer.from('base:allocation')]));
      reply(option, 1, Buffer.alloc(0));
    } else if (option === 3) {
      if (script.listReply) reply(option, 2, script.listReply);
      reply(option, 1, Buffer.alloc(0));
    } else if (option === 7) {
      const nameLength = data.readUInt32BE(0);
      if (data.subarray(4, 4 + nameLength).toString() !== 'disk') {
        reply(option, 0x80000006, Buffer.alloc(0));
        continue;
      }
      reply(option, 3, Buffer.concat([u16(0), u64(script.size ?? 1048576n), u16(script.flags ?? 1)]));
      reply(option, 1, Buffer.alloc(0));
      break;
    } else if (option === 5 && script.silentAfterStartTls) {
      reply(option, 1, Buffer.alloc(0));
      return;
    } else if (option === 2) {
      socket.end();
      return;
    } else reply(option, 0x80000001, Buffer.alloc(0));
  }
  for (;;) {
    const header = await read(28);
    const request = { type: header.readUInt16BE(6), cookie: Buffer.from(header.subarray(8, 16)), offset: Number(header.readBigUInt64BE(16)), length: header.readUInt32BE(24) };
    if (request.type === 1) await read(request.length);
    if (request.type === 2) return;
    const answer = script.answer?.(request);
    if (answer) socket.write(answer);
  }
}
