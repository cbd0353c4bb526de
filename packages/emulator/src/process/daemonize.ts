// -daemonize: QEMU forks, the parent waits until the child's machine has started and exits 0 (or
// with the child's failure). Node cannot fork: the parent starts itself again, detached in a new
// session with the same arguments, and reads one status line from a pipe (fd 3) the child writes.
import { spawn } from 'node:child_process';
import { closeSync, writeSync } from 'node:fs';

const CHILD_MARK = 'TESSERA_DAEMON_CHILD';
const STATUS_FD = 3;
const STARTED = 'started\n';

/** Whether this process is the daemon child of a `-daemonize` parent (and takes the mark off its environment). */
export function isDaemonChild(): boolean {
  const child = process.env[CHILD_MARK] === '1';
  delete process.env[CHILD_MARK];
  return child;
}

/**
 * The parent's side: start the child, pass its start-up messages through to stderr, and resolve
 * with the exit code the parent should have: 0 once the child reports its machine started, the
 * child's own code (1) if it ends first.
 */
export function runDaemonParent(args: readonly string[]): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...args], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    env: { ...process.env, [CHILD_MARK]: '1' },
  });
  return new Promise((resolve) => {
    let status = '';
    child.stderr!.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    const statusPipe = child.stdio[STATUS_FD] as NodeJS.ReadableStream;
    statusPipe.setEncoding('utf8');
    statusPipe.on('data', (chunk: string) => {
      status += chunk;
      if (status !== STARTED) return;
      // Leave the child to itself: it keeps running after this process exits.
      child.stderr!.destroy();
      (statusPipe as unknown as { destroy(): void }).destroy();
      child.unref();
      resolve(0);
    });
    child.on('error', (error) => {
      process.stderr.write(`tessera: -daemonize: cannot start the daemon: ${error.message}\n`);
      resolve(1);
    });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

/**
 * The child's side, once its machine runs: tell the parent, then detach from its terminal as
 * QEMU's daemon does (stderr to nowhere, working directory /). Paths were resolved at start-up.
 */
export function reportDaemonStarted(): void {
  try {
    writeSync(STATUS_FD, STARTED);
    closeSync(STATUS_FD);
  } catch {
    // The parent is gone (killed while waiting): the machine runs on regardless, as QEMU's daemon.
  }
  // QEMU points fds 0-2 at /dev/null here; Node cannot dup2, so later messages are dropped instead
  // (the parent's end of the pipe is gone).
  process.stderr.write = (() => true) as typeof process.stderr.write;
  process.stderr.on('error', () => {});
  process.chdir('/');
}
