// Server processes the protocol modules' tests run on loopback (qemu-nbd, nbdkit, sshd, tgtd):
// a free port, the start that waits until the server accepts connections, and the stop.
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

/** A TCP port on 127.0.0.1 that was free a moment ago (bound, then released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Whether something accepts connections at `where` (a port on 127.0.0.1 or a unix socket path). */
function accepts(where: number | string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket: Socket = typeof where === 'number' ? connect(where, '127.0.0.1') : connect(where);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A server process started for a test, and how to reach and stop it. */
export interface RunningServer {
  readonly process: ChildProcess;
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;
  /** Whether it has exited (stopped, or ended on its own). */
  hasExited(): boolean;
  /** Stop it (SIGKILL when `abruptly`, as a crash or a pulled cable; SIGTERM otherwise) and wait for its exit. */
  stop(abruptly?: boolean): Promise<void>;
}

/**
 * Start `command` in the foreground and wait until it accepts connections at `where`; fails with
 * its stderr if it exits first or is not listening within 10 s (then it is killed).
 */
export async function startServer(command: string, args: readonly string[], where: number | string): Promise<RunningServer> {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));
  const started = Date.now();
  while (!(await accepts(where))) {
    if (gone) throw new Error(`${command} ${args.join(' ')} exited: ${stderr}`);
    if (Date.now() - started > 10_000) {
      child.kill('SIGKILL');
      throw new Error(`${command} did not start listening in 10 s: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    process: child,
    exited,
    hasExited: () => gone,
    async stop(abruptly = false) {
      if (!gone) child.kill(abruptly ? 'SIGKILL' : 'SIGTERM');
      await exited;
    },
  };
}
