import { execFileSync, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { freePort, startServer } from '../../../../../tools/test-support/server-process.ts';

export { freePort };

// tgtd, Linux's user-space iSCSI target, run in the foreground for a test. Its control socket is
// /var/run/tgtd/socket.<control port> (1..32767, locked by the daemon): it is derived from the
// portal's free TCP port, and a start that fails (another tgtd holds that control port) is retried
// on another port, so parallel runs never share one. tgtd ignores SIGTERM: stopping deletes the targets, asks the
// daemon to exit (`--op delete --mode system`), and SIGKILLs it if that does not end it.

export interface Lun {
  readonly tid: number;
  readonly iqn: string;
  /** LUN 1's backing file. */
  readonly file: string;
  /** One-way CHAP account bound to the target. */
  readonly chap?: { readonly user: string; readonly password: string };
}

export interface RunningTgtd {
  readonly port: number;
  readonly process: ChildProcess;
  url(iqn: string, lun?: number, credentials?: string): string;
  /** SIGKILL (a target that vanishes) or an orderly stop. */
  stop(abruptly?: boolean): Promise<void>;
}

export async function startTgtd(luns: readonly Lun[]): Promise<RunningTgtd> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(luns);
    } catch (error) {
      if (attempt === 5) throw error;
    }
  }
}

async function startOnce(luns: readonly Lun[]): Promise<RunningTgtd> {
  const port = await freePort();
  const control = String(1 + (port % 32767));
  const server = await startServer('tgtd', ['-f', '-C', control, '--iscsi', `portal=127.0.0.1:${port}`], port);
  const { process: child, exited } = server;
  const admin = (...args: string[]) => execFileSync('tgtadm', ['-C', control, '--lld', 'iscsi', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  for (const lun of luns) {
    admin('--op', 'new', '--mode', 'target', '--tid', String(lun.tid), '-T', lun.iqn);
    admin('--op', 'new', '--mode', 'logicalunit', '--tid', String(lun.tid), '--lun', '1', '-b', lun.file);
    admin('--op', 'bind', '--mode', 'target', '--tid', String(lun.tid), '-I', '127.0.0.1');
    if (lun.chap) {
      admin('--op', 'new', '--mode', 'account', '--user', lun.chap.user, '--password', lun.chap.password);
      admin('--op', 'bind', '--mode', 'account', '--tid', String(lun.tid), '--user', lun.chap.user);
    }
  }
  // tgtd leaves its control socket and lock file behind when it ends: remove this run's.
  const removeControlFiles = () => {
    for (const suffix of ['', '.lock']) rmSync(`/var/run/tgtd/socket.${control}${suffix}`, { force: true });
  };
  void exited.then(removeControlFiles);
  return {
    port,
    process: child,
    url: (iqn, lunNumber = 1, credentials) => `iscsi://${credentials ? `${credentials}@` : ''}127.0.0.1:${port}/${iqn}/${lunNumber}`,
    async stop(abruptly = false) {
      if (server.hasExited()) return;
      if (!abruptly) {
        try {
          for (const lun of luns) admin('--op', 'delete', '--mode', 'target', '--force', '--tid', String(lun.tid));
          admin('--op', 'delete', '--mode', 'system');
        } catch {
          // fall through to SIGKILL
        }
        const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
        await exited;
        clearTimeout(timer);
        return;
      }
      child.kill('SIGKILL');
      await exited;
    },
  };
}
