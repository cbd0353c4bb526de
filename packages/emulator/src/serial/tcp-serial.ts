import { lstatSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { errnoText } from './errno-text.ts';
import { ByteBatcher, type SerialCallbacks, type SerialPort } from './serial-port.ts';

export interface TcpSerialOptions {
  /** A TCP address, or a Unix socket's path (`unix:`). */
  readonly host?: string;
  readonly port?: number;
  readonly path?: string;
  readonly server: boolean;
  /** Server only: wait for the first client before the guest runs (QEMU's default for server=on). */
  readonly wait: boolean;
  /** Told when the server waits (QEMU's "waiting for connection" line). */
  readonly onWaiting?: (address: string) => void;
}

/**
 * `-serial tcp:HOST:PORT[,server=on][,wait=off]` (and `unix:PATH,…`): COM1 over one stream connection. As a server it
 * takes one client at a time (a later one waits in the backlog until the first leaves, as QEMU);
 * while nobody is connected the guest's output is dropped.
 */
export class TcpSerial implements SerialPort {
  private client: Socket | undefined;
  private server: Server | undefined;
  private readonly batcher = new ByteBatcher((data) => this.client?.write(data));

  private constructor(private readonly callbacks: SerialCallbacks) {}

  static async open(options: TcpSerialOptions, callbacks: SerialCallbacks): Promise<TcpSerial> {
    const serial = new TcpSerial(callbacks);
    if (options.server) await serial.listen(options);
    else await serial.connect(options);
    return serial;
  }

  output(byte: number): void {
    if (this.client) this.batcher.push(byte);
  }

  async close(): Promise<void> {
    this.batcher.flush();
    const client = this.client;
    this.client = undefined;
    if (client && !client.destroyed) await new Promise<void>((resolve) => client.end(() => resolve()));
    client?.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private attach(socket: Socket): void {
    this.client = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.callbacks.toGuest(new Uint8Array(chunk)));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      if (this.client === socket) this.client = undefined; // a server takes the next client
    });
  }

  private async listen(options: TcpSerialOptions): Promise<void> {
    const host = options.host || '0.0.0.0';
    const where = options.path !== undefined ? `unix:${options.path}` : `tcp:${host}:${options.port}`;
    if (options.path !== undefined) removeStaleSocket(options.path);
    let firstClient: () => void = () => {};
    const connected = new Promise<void>((resolve) => (firstClient = resolve));
    const server = createServer({ pauseOnConnect: false }, (socket) => {
      if (this.client) {
        socket.destroy(); // one client at a time, as QEMU's socket chardev
        return;
      }
      this.attach(socket);
      firstClient();
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      const to = options.path !== undefined ? ` to ${options.path}` : '';
      server.once('error', (error) => reject(new Error(`Failed to bind socket${to}: ${errnoText(error)}`, { cause: error })));
      if (options.path !== undefined) server.listen(options.path, () => resolve());
      else server.listen(options.port, host, () => resolve());
    });
    server.unref(); // the machine, not the listener, keeps the process alive
    if (options.wait) {
      options.onWaiting?.(`disconnected:${where},server=on`);
      server.ref();
      await connected;
      server.unref();
    }
  }

  private async connect(options: TcpSerialOptions): Promise<void> {
    const socket = options.path !== undefined ? createConnection({ path: options.path }) : createConnection({ host: options.host!, port: options.port! });
    const where = options.path ?? `${options.host}:${options.port}`;
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', (error) => reject(new Error(`Failed to connect to '${where}': ${errnoText(error)}`, { cause: error })));
    });
    this.attach(socket);
  }
}

/**
 * QEMU removes whatever is at a Unix socket's path before binding; this removes only a socket
 * (left by an earlier run), so a mistyped path cannot delete a file: binding then fails instead.
 */
function removeStaleSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) rmSync(path);
  } catch {
    // nothing there
  }
}
