#!/usr/bin/env node
// `convert` from and to remote storage, tessera-img against qemu-img in one run: NBD (qemu-nbd),
// iSCSI (tgtd) and SSH (OpenSSH's sshd with internal-sftp), each started here on loopback. The
// source is bench/fragmented-image.mjs's used-disk image (data and zero runs of 4-64 KiB). For each
// protocol: PROTO -> raw (a local file) and raw -> PROTO (`-n`, into existing storage of the same
// size). As bench/convert-formats.mjs: runs alternate which tool goes first, the page cache is
// synced before each timed run, medians and their ratio time(tessera-img)/time(qemu-img), CPU
// time (user+sys, from each run's rusage: rusage-runner.mjs), the client's alone and with the
// server's (nbd, iscsi: the same server for both tools), and the load average (above the number of
// cores, wall-clock ratios are noise). The Node floor (node-copy-floor.mjs copying the local raw
// image's data extents, no protocol) is printed once: what Node's startup and file I/O alone cost
// here; per protocol a fixed-cost line (`info` of the source: start-up and connection, no data)
// shows what of a ratio is not per byte.
// Not a test. Needs qemu-nbd, tgtd/tgtadm, sshd/ssh-keygen/ssh-agent (tools/setup.sh installs them).
// Each nbd and iscsi run gets a server started afresh (--shared-servers: one for all runs).
//   node bench/convert-protocols.mjs [--size 256] (MiB) [--runs 3] [--data-percent 50] [--only nbd,iscsi,ssh] [--shared-servers] [--exe path]
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { availableParallelism, loadavg, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { executableFileName, workspaceRoot } from '../tools/build/paths.mjs';
import { makeFragmentedImage } from './fragmented-image.mjs';
import { rusageRunner } from './rusage-runner.mjs';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '256' },
    runs: { type: 'string', default: '3' },
    'data-percent': { type: 'string', default: '50' },
    only: { type: 'string', default: 'nbd,iscsi,ssh' },
    'shared-servers': { type: 'boolean', default: false },
    exe: { type: 'string', default: join(workspaceRoot, 'packages/img-tool/dist', executableFileName(join(workspaceRoot, 'packages/img-tool'))) },
  },
});
const size = Number(values.size) * 2 ** 20;
const runs = Number(values.runs);
const protocols = values.only.split(',');
const scratch = mkdtempSync(join(tmpdir(), 'tessera-bench-protocols-'));
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;
const stops = [];

/** Server processes whose CPU time a run is charged with too (the servers each tool talks to: the same for both). */
const serverPids = [];

/** CPU time (user + system, ms) the server processes have used so far (NaN when a protocol has none listed). */
function serverCpuMs() {
  if (serverPids.length === 0) return NaN;
  let ticks = 0;
  for (const pid of serverPids) {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks * 10; // clock ticks of 1/100 s
}

const runner = rusageRunner(env);

/** One run: wall and CPU ms of the command (its rusage), and the CPU ms its servers used meanwhile. */
async function timed(command) {
  spawnSync('sync');
  const serverBefore = serverCpuMs();
  const { wall, cpu } = await runner.run(command);
  return { ms: wall, cpu, server: serverCpuMs() - serverBefore };
}

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const accepts = (port) =>
  new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });

/** Start a server in the foreground and wait until it listens on `port`. */
async function serve(command, args, port) {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const started = Date.now();
  while (!(await accepts(port))) {
    if (child.exitCode !== null) throw new Error(`${command} exited: ${stderr}`);
    if (Date.now() - started > 10_000) throw new Error(`${command} did not listen in 10 s: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { child, exited };
}

async function startNbd(source, target, stops) {
  const [readPort, writePort] = [await freePort(), await freePort()];
  for (const [file, port, readOnly] of [[source, readPort, true], [target, writePort, false]]) {
    const { child, exited } = await serve('qemu-nbd', ['-f', 'raw', ...(readOnly ? ['-r'] : []), '-t', '-e', '4', '-x', 'disk', '-b', '127.0.0.1', '-p', String(port), file], port);
    serverPids.push(child.pid);
    stops.push(async () => (child.kill('SIGTERM'), await exited));
  }
  return { from: `nbd://127.0.0.1:${readPort}/disk`, to: `nbd://127.0.0.1:${writePort}/disk` };
}

async function startIscsi(source, target, stops) {
  const port = await freePort();
  const control = String(1 + (port % 32767));
  const { child, exited } = await serve('tgtd', ['-f', '-C', control, '--iscsi', `portal=127.0.0.1:${port}`], port);
  serverPids.push(child.pid);
  const admin = (...args) => execFileSync('tgtadm', ['-C', control, '--lld', 'iscsi', ...args], { stdio: 'ignore' });
  const iqns = ['iqn.2026-12.org.tessera.bench:source', 'iqn.2026-12.org.tessera.bench:target'];
  [source, target].forEach((file, i) => {
    admin('--op', 'new', '--mode', 'target', '--tid', String(i + 1), '-T', iqns[i]);
    admin('--op', 'new', '--mode', 'logicalunit', '--tid', String(i + 1), '--lun', '1', '-b', file);
    admin('--op', 'bind', '--mode', 'target', '--tid', String(i + 1), '-I', '127.0.0.1');
  });
  // tgtd ignores SIGTERM: delete the targets and ask it to exit, SIGKILL if that does not end it.
  stops.push(async () => {
    try {
      for (const tid of ['1', '2']) admin('--op', 'delete', '--mode', 'target', '--force', '--tid', tid);
      admin('--op', 'delete', '--mode', 'system');
    } catch {}
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
    for (const suffix of ['', '.lock']) rmSync(`/var/run/tgtd/socket.${control}${suffix}`, { force: true });
  });
  return { from: `iscsi://127.0.0.1:${port}/${iqns[0]}/1`, to: `iscsi://127.0.0.1:${port}/${iqns[1]}/1` };
}

/** sshd with its own host key and the bench's user key; qemu-img authenticates through ssh-agent only, so both tools use the agent. */
async function startSsh(source, target, stops) {
  const dir = join(scratch, 'ssh');
  mkdirSync(dir);
  const port = await freePort();
  const key = (name, type) => (execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', join(dir, name)]), join(dir, name));
  const hostKey = key('host', 'ed25519');
  const userKey = key('user', 'ed25519');
  writeFileSync(join(dir, 'sshd.conf'), [`ListenAddress 127.0.0.1`, `Port ${port}`, `HostKey ${hostKey}`, `AuthorizedKeysFile ${userKey}.pub`, 'UsePAM no', 'PidFile none', 'StrictModes no', 'PermitRootLogin prohibit-password', 'Subsystem sftp internal-sftp', ''].join('\n'));
  if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true });
  const { child, exited } = await serve('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd.conf')], port);
  stops.push(async () => (child.kill('SIGTERM'), await exited));
  const socket = join(dir, 'agent.sock');
  const agentPid = Number(/SSH_AGENT_PID=(\d+)/.exec(execFileSync('ssh-agent', ['-s', '-a', socket], { encoding: 'utf8' }))[1]);
  stops.push(async () => process.kill(agentPid, 'SIGTERM'));
  env.SSH_AUTH_SOCK = socket;
  execFileSync('ssh-add', ['-q', userKey], { env, stdio: 'ignore' });
  const blob = Buffer.from(readFileSync(`${hostKey}.pub`, 'utf8').split(' ')[1], 'base64');
  const pin = `host_key_check=sha256:${createHash('sha256').update(blob).digest('hex')}`;
  const url = (file) => `ssh://${userInfo().username}@127.0.0.1:${port}${file}?${pin}`;
  return { from: url(source), to: url(target) };
}

/** Stops the servers of the protocol being measured, while they run. */
let running;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

try {
  const source = join(scratch, 'source.raw');
  const target = join(scratch, 'target.raw');
  makeFragmentedImage(source, size, Number(values['data-percent']) / 100);
  execFileSync('qemu-img', ['create', '-q', '-f', 'raw', target, String(size)]);
  const out = join(scratch, 'out.raw');
  const starters = { nbd: startNbd, iscsi: startIscsi, ssh: startSsh };
  console.log(`convert from and to remote storage on loopback, a ${values.size} MiB image of interleaved 4-64 KiB data and zero runs (${values['data-percent']}% data); median ms of ${runs} runs`);
  console.log(`  (load average ${loadavg()[0].toFixed(1)} on ${availableParallelism()} cores)`);
  console.log(`  ${'case'.padEnd(14)} ${'tessera-img'.padStart(11)} ${'qemu-img'.padStart(9)}  ratio   CPU ms (ours / qemu-img, ratio)`);
  const extents = join(scratch, 'extents.json');
  writeFileSync(extents, spawnSync('qemu-img', ['map', '--output=json', '-f', 'raw', source], { encoding: 'utf8' }).stdout);
  const floor = [];
  for (let i = 0; i < runs; i++) {
    rmSync(out, { force: true });
    floor.push(await timed([process.execPath, join(workspaceRoot, 'bench/node-copy-floor.mjs'), source, extents, out, String(size)]));
  }
  console.log(`  ${'Node floor'.padEnd(14)} ${median(floor.map((s) => s.ms)).toFixed(0).padStart(11)}            CPU ${median(floor.map((s) => s.cpu)).toFixed(0)} (node-copy-floor.mjs: the local image's data extents copied, no protocol)`);
  // A server's own state carries from one client to the next (qemu-nbd's and tgtd's allocators
  // keep or return the pages of earlier requests' buffers), so by default each run of nbd and
  // iscsi gets a server of its own, started afresh, as `qemu-nbd ...; qemu-img convert` does.
  // sshd starts a process per connection anyway. --shared-servers: one server for all runs.
  const fresh = (protocol) => !values['shared-servers'] && protocol !== 'ssh';
  const start = async (protocol) => {
    const own = [];
    serverPids.length = 0; // sshd forks a process per connection: no server CPU for ssh
    const urls = await starters[protocol](source, target, own);
    running = async () => {
      running = undefined;
      for (const stop of own.reverse()) await stop().catch(() => undefined);
    };
    return urls;
  };
  if (values['shared-servers']) console.log('  (one server per protocol for all runs of both tools)');
  for (const protocol of protocols) {
    let urls = await start(protocol);
    const cases = [
      { name: `${protocol} fixed`, args: () => ['info', urls.from], result: undefined, before: () => undefined },
      { name: `${protocol} -> raw`, args: () => ['convert', '-O', 'raw', urls.from, out], result: out, before: () => rmSync(out, { force: true }) },
      // Into existing storage, its old bytes punched out first (the servers keep the file open: its size stays).
      { name: `raw -> ${protocol}`, args: () => ['convert', '-n', '-O', 'raw', source, urls.to], result: target, before: () => execFileSync('fallocate', ['-p', '-o', '0', '-l', String(size), target]) },
    ];
    for (const c of cases) {
      const samples = { 'tessera-img': [], 'qemu-img': [] };
      for (let i = 0; i < runs; i++) {
        const order = i % 2 === 0 ? ['tessera-img', 'qemu-img'] : ['qemu-img', 'tessera-img'];
        for (const tool of order) {
          if (fresh(protocol) && running === undefined) urls = await start(protocol);
          c.before();
          const args = c.args();
          samples[tool].push(await timed(tool === 'qemu-img' ? ['qemu-img', ...args] : [process.execPath, values.exe, ...args]));
          if (fresh(protocol)) await running();
        }
      }
      const same = c.result === undefined ? { status: 0 } : spawnSync('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', source, c.result], { encoding: 'utf8' });
      if (same.status !== 0) throw new Error(`${c.name}: the output differs from the source: ${same.stdout}${same.stderr}`);
      const [ours, theirs] = [median(samples['tessera-img'].map((s) => s.ms)), median(samples['qemu-img'].map((s) => s.ms))];
      const [oursCpu, theirsCpu] = [median(samples['tessera-img'].map((s) => s.cpu)), median(samples['qemu-img'].map((s) => s.cpu))];
      // Client and server together: a client can make its server work more (or less).
      const [oursAll, theirsAll] = [median(samples['tessera-img'].map((s) => s.cpu + s.server)), median(samples['qemu-img'].map((s) => s.cpu + s.server))];
      console.log(
        `  ${c.name.padEnd(14)} ${ours.toFixed(0).padStart(11)} ${theirs.toFixed(0).padStart(9)}  ${(ours / theirs).toFixed(2).padEnd(6)}  ${oursCpu.toFixed(0)} / ${theirsCpu.toFixed(0)}, ${(oursCpu / theirsCpu).toFixed(2)}${Number.isNaN(oursAll) ? '' : `; with the server ${oursAll.toFixed(0)} / ${theirsAll.toFixed(0)}, ${(oursAll / theirsAll).toFixed(2)}`}`,
      );
    }
    await running?.();
  }
} finally {
  runner.close();
  await running?.();
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  rmSync(scratch, { recursive: true, force: true });
}
