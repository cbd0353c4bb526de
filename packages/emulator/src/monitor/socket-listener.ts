import { lstat, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import type { MonitorEndpoint } from './config.ts';

/** A client connection as a monitor sees it. */
export interface MonitorConnection {
  write(text: string): void;
  onData(listener: (data: Buffer) => void): void;
}

/**
 * A listening monitor socket (`server=on,wait=off`). Like a QEMU chardev it serves one client at
 * a time; later clients wait, connected, until the current one leaves.
 */
export class SocketListener {
  private current: Socket | undefined;
  private readonly waiting: Socket[] = [];
  private readonly all = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly endpoint: Extract<MonitorEndpoint, { kind: 'unix' | 'tcp' }>,
    private readonly serve: (connection: MonitorConnection) => () => void,
  ) {}

  static async listen(endpoint: Extract<MonitorEndpoint, { kind: 'unix' | 'tcp' }>, serve: (connection: MonitorConnection) => () => void): Promise<SocketListener> {
    const server = createServer();
    const listener = new SocketListener(server, endpoint, serve);
    server.on('connection', (socket) => listener.accept(socket));
    if (endpoint.kind === 'unix') await removeStaleSocket(endpoint.path);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      if (endpoint.kind === 'unix') server.listen(endpoint.path, () => resolve());
      else server.listen(endpoint.port, endpoint.host, () => resolve());
    });
    server.on('error', () => {});
    return listener;
  }

  /** QEMU's `query-chardev` filename for this socket. */
  get filename(): string {
    const where = this.endpoint.kind === 'unix' ? `unix:${this.endpoint.path}` : `tcp:${this.endpoint.host}:${this.endpoint.port}`;
    return `${this.current ? '' : 'disconnected:'}${where},server=on`;
  }

  get connected(): boolean {
    return this.current !== undefined;
  }

  /** Stop listening, flush what was written to clients and close them; the unix socket file goes. */
  async close(): Promise<void> {
    // The server's close waits for its connections: end them (flushing what was written) first.
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    await Promise.all([...this.all].map((socket) => new Promise<void>((resolve) => socket.end(() => resolve()))));
    for (const socket of this.all) socket.destroy();
    await closed;
    if (this.endpoint.kind === 'unix') await unlink(this.endpoint.path).catch(() => {});
  }

  private accept(socket: Socket): void {
    this.all.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => {
      this.all.delete(socket);
      const index = this.waiting.indexOf(socket);
      if (index >= 0) this.waiting.splice(index, 1);
    });
    if (this.current) this.waiting.push(socket);
    else this.start(socket);
  }

  private start(socket: Socket): void {
    this.current = socket;
    socket.setNoDelay?.(true);
    const stop = this.serve({
      write: (text) => {
        if (!socket.destroyed) socket.write(text);
      },
      onData: (listener) => socket.on('data', listener),
    });
    socket.once('close', () => {
      stop();
      this.current = undefined;
      const next = this.waiting.shift();
      if (next) this.start(next);
    });
  }
}

/** QEMU replaces a socket file left over at the path; anything else there is an error. */
async function removeStaleSocket(path: string): Promise<void> {
  const stat = await lstat(path).catch(() => undefined);
  if (!stat) return;
  if (!stat.isSocket()) throw new Error(`Failed to bind socket to ${path}: Address already in use`);
  await unlink(path);
}
