// Accepting clients: on TCP or a unix socket, at most `shared` served at once (later ones wait,
// not yet greeted, as qemu-nbd leaves them in its listen queue), each negotiated and then served
// until it leaves. Without `persistent` the server ends when its last client has left.
import { createServer, type Server, type Socket } from 'node:net';
import { unlinkSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import type { Listen } from '../cli/options.ts';
import type { NbdExport } from './export.ts';
import { negotiate } from './handshake.ts';
import { startServerTls, type TlsServerSettings } from './tls.ts';
import { transmit } from './transmission.ts';
import { SocketReader } from './wire.ts';

export interface ListenerSettings {
  readonly listen: Listen;
  readonly shared: number;
  readonly persistent: boolean;
  readonly tls: TlsServerSettings | undefined;
}

export class NbdListener {
  private readonly server: Server;
  private readonly active = new Set<Socket>();
  private readonly waiting: Socket[] = [];
  private finished!: () => void;
  /** Resolves when the server has nothing more to do (its last client left, not persistent). */
  readonly done = new Promise<void>((resolve) => (this.finished = resolve));

  constructor(
    private readonly image: NbdExport,
    private readonly settings: ListenerSettings,
  ) {
    this.server = createServer({ noDelay: true }, (socket) => this.accept(socket));
  }

  /** Start listening; fails with the system's reason (address in use, …). */
  async listen(): Promise<void> {
    const { listen } = this.settings;
    if (listen.kind === 'unix') {
      try {
        unlinkSync(listen.path); // as qemu-nbd: a stale socket file is replaced
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT') throw new Error(`Failed to unlink socket ${listen.path}: ${code === 'EISDIR' ? 'Is a directory' : (error as Error).message}`);
      }
    }
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      if (listen.kind === 'unix') this.server.listen(listen.path, resolve);
      else this.server.listen(listen.port, listen.host, resolve);
    });
    this.server.on('error', () => undefined);
  }

  /** Stop accepting and drop every client (a signal, or the end). */
  close(): void {
    this.server.close();
    for (const socket of [...this.active, ...this.waiting]) socket.destroy();
    if (this.settings.listen.kind === 'unix') {
      try {
        unlinkSync(this.settings.listen.path);
      } catch {
        // already gone
      }
    }
  }

  private accept(socket: Socket): void {
    socket.on('error', () => undefined);
    if (this.active.size >= this.settings.shared) {
      socket.pause();
      this.waiting.push(socket);
      socket.once('close', () => {
        const at = this.waiting.indexOf(socket);
        if (at >= 0) this.waiting.splice(at, 1);
      });
      return;
    }
    this.active.add(socket);
    void this.serve(socket).finally(() => {
      this.active.delete(socket);
      socket.destroy();
      const next = this.waiting.shift();
      if (next) this.accept(next);
      else if (!this.settings.persistent && this.active.size === 0) this.finished();
    });
  }

  private async serve(socket: Socket): Promise<void> {
    const reader = new SocketReader(socket);
    let current: Duplex = socket;
    const tls = this.settings.tls;
    try {
      const session = await negotiate(
        {
          reader,
          socket: () => current,
          ...(tls
            ? {
                startTls: async () => {
                  reader.detach();
                  current = await startServerTls(socket, tls);
                  reader.attach(current);
                },
              }
            : {}),
        },
        this.image,
      );
      if (session) await transmit(reader, () => current, session);
      await new Promise<void>((resolve) => current.end(resolve));
    } catch {
      // The client left or broke the protocol: its connection ends here, the server goes on.
    }
  }
}
