// `--fork`: Node cannot fork, so the parent starts the same command again as a detached process
// and waits, relaying its errors, until it says it is listening (a line on descriptor 3); then the
// parent exits 0, as qemu-nbd's parent does once its child serves. If the child fails first, the
// parent exits with its code.
import { spawn } from 'node:child_process';
import { closeSync, writeSync } from 'node:fs';

const READY_FD_VARIABLE = 'TESSERA_NBD_READY_FD';

/** Run the server in the background; resolves with the parent's exit code. */
export function forkServer(argv: readonly string[]): Promise<number> {
  const args = [...process.execArgv, process.argv[1]!, ...argv.filter((a) => a !== '--fork')];
  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    env: { ...process.env, [READY_FD_VARIABLE]: '3' },
  });
  child.stderr!.on('data', (d: Buffer) => process.stderr.write(d));
  return new Promise((resolve) => {
    let ready = false;
    child.stdio[3]!.on('data', () => {
      ready = true;
      child.stderr!.destroy();
      child.stdio[3]!.destroy();
      child.unref();
      resolve(0);
    });
    child.once('exit', (code) => {
      if (!ready) resolve(code ?? 1);
    });
  });
}

/**
 * In the forked server: tell the parent it is listening. Its stderr goes nowhere after that (the
 * parent has exited), as qemu-nbd's child's goes to /dev/null.
 */
export function signalReady(): void {
  const fd = Number(process.env[READY_FD_VARIABLE]);
  if (!Number.isInteger(fd) || fd < 3) return;
  delete process.env[READY_FD_VARIABLE];
  try {
    writeSync(fd, 'ready\n');
    closeSync(fd);
  } catch {
    // the parent is gone: nothing to tell
  }
  process.stderr.on('error', () => undefined);
}
