// A single-node Ceph cluster for a test suite: one monitor and one OSD on memstore (in memory),
// cephx with its own keyring, in a temporary directory, on free loopback ports, without systemd
// (both daemons run in the foreground as children of the test and are killed by PID at the end).
// About 2-3 s from nothing to a pool `rbd` ready for images.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface RunningCeph {
  readonly dir: string;
  /** ceph.conf naming the monitor and the keyring. */
  readonly conf: string;
  /** client.admin's keyring (also in the conf). */
  readonly keyring: string;
  /** `rbd:rbd/<image>:conf=<conf>` plus `:key=value` fields. */
  location(image: string, ...fields: string[]): string;
  /** Run the `rbd` command against the cluster. */
  rbd(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function uuid(): string {
  return readFileSync('/proc/sys/kernel/random/uuid', 'utf8').trim();
}

export interface CephOptions {
  /** The OSD's memstore size (the objects of every image must fit); memstore's default is 1 GiB. */
  readonly memstoreBytes?: number;
}

export async function startCeph(options: CephOptions = {}): Promise<RunningCeph> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-ceph-'));
  const conf = join(dir, 'ceph.conf');
  const keyring = join(dir, 'keyring');
  const children: ChildProcess[] = [];
  const stop = async () => {
    for (const child of children) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const fsid = uuid();
    const [v2, v1] = [await freePort(), await freePort()];
    const monAddress = `[v2:127.0.0.1:${v2},v1:127.0.0.1:${v1}]`;
    mkdirSync(join(dir, 'mon'));
    mkdirSync(join(dir, 'osd'));
    mkdirSync(join(dir, 'run'));
    writeFileSync(
      conf,
      [
        '[global]',
        `fsid = ${fsid}`,
        `mon host = ${monAddress}`,
        'public addr = 127.0.0.1',
        'auth cluster required = cephx',
        'auth service required = cephx',
        'auth client required = cephx',
        `keyring = ${keyring}`,
        // One OSD holds every object: pools of size 1, placement over OSDs, not hosts.
        'osd pool default size = 1',
        'osd pool default min size = 1',
        'mon allow pool size one = true',
        'mon warn on pool no redundancy = false',
        'osd crush chooseleaf type = 0',
        // Else each pool creation waits about a second for the monitor's next proposal.
        'paxos propose interval = 0.05',
        'osd objectstore = memstore',
        ...(options.memstoreBytes !== undefined ? [`memstore device bytes = ${options.memstoreBytes}`] : []),
        `run dir = ${dir}/run`,
        `admin socket = ${dir}/$name.asok`,
        `log file = ${dir}/$name.log`,
        `mon data = ${dir}/mon`,
        `osd data = ${dir}/osd`,
        '',
      ].join('\n'),
    );
    const tool = (command: string, ...args: string[]) => exec(command, args, { timeout: 30_000 });
    await tool('ceph-authtool', '--create-keyring', keyring, '--gen-key', '-n', 'mon.', '--cap', 'mon', 'allow *');
    await tool('ceph-authtool', keyring, '--gen-key', '-n', 'client.admin', '--cap', 'mon', 'allow *', '--cap', 'osd', 'allow *', '--cap', 'mgr', 'allow *');
    await tool('ceph-authtool', keyring, '--gen-key', '-n', 'osd.0', '--cap', 'mon', 'allow profile osd', '--cap', 'osd', 'allow *');
    await tool('monmaptool', '--create', '--fsid', fsid, '--addv', 'a', monAddress, join(dir, 'monmap'));
    await tool('ceph-mon', '-c', conf, '--mkfs', '-i', 'a', '--monmap', join(dir, 'monmap'), '--keyring', keyring);
    children.push(spawn('ceph-mon', ['-c', conf, '-i', 'a', '-f'], { stdio: 'ignore' }));
    const osdId = uuid();
    await tool('ceph', '-c', conf, '--connect-timeout', '20', 'osd', 'new', osdId);
    await tool('ceph-osd', '-c', conf, '-i', '0', '--mkfs', '--osd-uuid', osdId);
    children.push(spawn('ceph-osd', ['-c', conf, '-i', '0', '-f'], { stdio: 'ignore' }));
    await tool('ceph', '-c', conf, 'osd', 'pool', 'create', 'rbd', '8');
    await tool('rbd', '-c', conf, 'pool', 'init', 'rbd');
    return {
      dir,
      conf,
      keyring,
      location: (image, ...fields) => [`rbd:rbd/${image}`, `conf=${conf}`, ...fields].join(':'),
      rbd: async (...args) => (await tool('rbd', '-c', conf, ...args)).stdout,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
