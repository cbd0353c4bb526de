#!/usr/bin/env node
// nbdcopy from tessera-nbd against nbdcopy from qemu-nbd, both serving the same fragmented qcow2
// read-only on a unix socket (data and zero runs of 4-64 KiB interleaved, as bench/convert-formats.mjs
// makes them, 50% data): wall time of the copy to nbdcopy's `null:` sink (the server's work:
// handshake, block status, structured reads) and the servers' CPU time during it. One warm-up copy
// each, then --rounds alternating timed copies; prints medians and the ratio
// time(tessera-nbd)/time(qemu-nbd), goal <= 1.0, and the servers' CPU ratio (steadier under load).
// Not a test.
//   node bench/nbd-server.mjs [--size 256] (MiB) [--rounds 5] [--exe path]
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { executableFileName, workspaceRoot } from '../tools/build/paths.mjs';
import { makeFragmentedImage } from './fragmented-image.mjs';

const appRoot = join(workspaceRoot, 'packages/nbd-server');
const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '256' },
    rounds: { type: 'string', default: '5' },
    exe: { type: 'string', default: join(appRoot, 'dist', executableFileName(appRoot)) },
  },
});
const size = Number(values.size) * 2 ** 20;
const rounds = Number(values.rounds);
const scratch = mkdtempSync(join(tmpdir(), 'tessera-bench-nbd-'));

/** CPU time (user + system, ms) a process has used so far. */
function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks of 1/100 s
}

async function startServer(command, args, socket) {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; i < 400 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 25));
  if (!existsSync(socket)) throw new Error(`${command} did not start`);
  return child;
}

function copy(socket) {
  spawnSync('sync');
  const start = process.hrtime.bigint();
  const result = spawnSync('nbdcopy', [`nbd+unix:///?socket=${socket}`, 'null:'], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (result.status !== 0) throw new Error(`nbdcopy failed: ${result.stderr}`);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

const servers = [];
try {
  const raw = join(scratch, 'source.raw');
  const image = join(scratch, 'source.qcow2');
  makeFragmentedImage(raw, size, 0.5);
  spawnSync('qemu-img', ['convert', '-O', 'qcow2', raw, image]);
  rmSync(raw);
  const sockets = { 'tessera-nbd': join(scratch, 'tessera.sock'), 'qemu-nbd': join(scratch, 'qemu.sock') };
  const common = ['-r', '-t', '-e', '16', '-f', 'qcow2'];
  const pids = {
    'tessera-nbd': await startServer(process.execPath, [values.exe, ...common, '-k', sockets['tessera-nbd'], image], sockets['tessera-nbd']),
    'qemu-nbd': await startServer('qemu-nbd', [...common, '-k', sockets['qemu-nbd'], image], sockets['qemu-nbd']),
  };
  servers.push(...Object.values(pids));
  console.log(`nbdcopy to null: of a ${values.size} MiB qcow2, data and zero runs of 4-64 KiB interleaved (50% data)`);
  console.log(`  (load average ${loadavg()[0].toFixed(1)} on ${availableParallelism()} cores)`);
  const samples = { 'tessera-nbd': [], 'qemu-nbd': [] };
  for (const name of ['tessera-nbd', 'qemu-nbd']) copy(sockets[name]); // warm-up: page cache, JIT
  // Alternating rounds (which server goes first alternates too): the machine's load drifts.
  for (let round = 0; round < rounds; round++) {
    for (const name of round % 2 ? ['qemu-nbd', 'tessera-nbd'] : ['tessera-nbd', 'qemu-nbd']) {
      const before = cpuMs(pids[name].pid);
      const ms = copy(sockets[name]);
      samples[name].push({ ms, cpu: cpuMs(pids[name].pid) - before });
    }
  }
  const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
  const results = Object.fromEntries(
    Object.entries(samples).map(([name, list]) => [name, { ms: median(list.map((s) => s.ms)), cpu: median(list.map((s) => s.cpu)) }]),
  );
  for (const [name, r] of Object.entries(results)) console.log(`  ${name.padEnd(12)} ${r.ms.toFixed(0).padStart(6)} ms wall, server CPU ${r.cpu.toFixed(0)} ms (medians of ${rounds})`);
  const ratio = results['tessera-nbd'].ms / results['qemu-nbd'].ms;
  console.log(`  ratio (tessera-nbd / qemu-nbd, goal <= 1.00): ${ratio.toFixed(2)}; server CPU ratio ${(results['tessera-nbd'].cpu / results['qemu-nbd'].cpu).toFixed(2)}`);
} finally {
  for (const child of servers) child.kill('SIGTERM');
  rmSync(scratch, { recursive: true, force: true });
}
