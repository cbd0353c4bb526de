// What the tessera-nbd tests share: starting the built server, running the real clients, and a
// raw NBD client for what no real client sends (bad magic, oversized requests).
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { executable, type Configuration } from '../../../tools/test-support/executables.ts';
import { startServer, type RunningServer } from '../../modules/block-nbd/test/helpers/servers.ts';
import { SocketReader } from '../src/server/wire.ts';

export { freePort, type RunningServer } from '../../modules/block-nbd/test/helpers/servers.ts';

/** Start tessera-nbd of a configuration with `args`, ready once it accepts at `where` (port or socket path). */
export function startTesseraNbd(configuration: Configuration, args: readonly string[], where: number | string): Promise<RunningServer> {
  return startServer(process.execPath, [executable('nbd-server', configuration), ...args], where);
}

export interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run a program (a real client), never rejecting on failure. */
export function tool(command: string, args: readonly string[], timeout = 30_000): Promise<Result> {
  return new Promise((resolve) => {
    execFile(command, args, { encoding: 'utf8', timeout, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

/** A connection speaking NBD by hand: after OPT_GO on `name`, requests with simple replies. */
export class RawClient {
  private constructor(
    private readonly socket: ReturnType<typeof connect>,
    readonly reader: SocketReader,
    readonly closed: Promise<void>,
  ) {}

  /** Connect and read the greeting; the client flags are sent (fixed newstyle, no zeroes). */
  static async open(path: string): Promise<RawClient> {
    const socket = connect(path);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const client = new RawClient(socket, new SocketReader(socket), closed);
    await client.reader.read(18);
    socket.write(u32(3));
    return client;
  }

  send(...parts: Buffer[]): void {
    this.socket.write(Buffer.concat(parts));
  }

  /** OPT_GO for `name`; resolves with the last reply type (1: ACK). */
  async go(name: string): Promise<number> {
    const n = Buffer.from(name);
    this.option(7, Buffer.concat([u32(n.length), n, Buffer.alloc(2)]));
    for (;;) {
      const header = await this.reader.read(20);
      const type = header.readUInt32BE(12);
      await this.reader.read(header.readUInt32BE(16));
      if (type === 1 || type >= 0x80000000) return type;
    }
  }

  option(option: number, data: Buffer, magic = 0x49484156454f5054n): void {
    const header = Buffer.alloc(16);
    header.writeBigUInt64BE(magic, 0);
    header.writeUInt32BE(option, 8);
    header.writeUInt32BE(data.length, 12);
    this.send(header, data);
  }

  request(type: number, offset: number, length: number, payload?: Buffer, magic = 0x25609513): void {
    const header = Buffer.alloc(28);
    header.writeUInt32BE(magic, 0);
    header.writeUInt16BE(type, 6);
    header.writeBigUInt64BE(0x1234n, 8);
    header.writeBigUInt64BE(BigInt(offset), 16);
    header.writeUInt32BE(length, 24);
    this.send(header, ...(payload ? [payload] : []));
  }

  /** A simple reply's errno, and `dataLength` bytes of data when it succeeded. */
  async reply(dataLength = 0): Promise<{ errno: number; data: Buffer }> {
    const header = await this.reader.read(16);
    if (header.readUInt32BE(0) !== 0x67446698) throw new Error('not a simple reply');
    const errno = header.readUInt32BE(4);
    return { errno, data: errno === 0 ? await this.reader.read(dataLength) : Buffer.alloc(0) };
  }

  /** Whether the server closes the connection within `ms`. */
  async closesWithin(ms: number): Promise<boolean> {
    return Promise.race([this.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);
  }

  /** Stop taking bytes from the socket (replies pile up in the server) until the next read. */
  pause(): void {
    this.socket.pause();
  }

  close(): void {
    this.socket.destroy();
  }
}

function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value, 0);
  return b;
}
