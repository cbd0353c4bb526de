#!/usr/bin/env node
// nbdcopy from tessera-nbd against nbdcopy from qemu-nbd, both serving the same fragmented qcow2
// read-only on a unix socket (data and zero runs of 4-64 KiB interleaved, as bench/convert-formats.mjs
// makes them, 50% data): wall time of the copy to nbdcopy's `null:` sink (the server's work:
// handshake, block status, structured reads) and the servers' CPU time during it. One warm-up copy
// each, then --rounds alternating timed copies; prints medians and the ratio
// time(tessera-nbd)/time(qemu-nbd), goal <= 1.0, and the servers' CPU ratio (steadier under load),
// alone and with nbdcopy's (its rusage: rusage-runner.mjs; a server's replies can make its client
// work more). Also printed: the Node floor (node-copy-floor.mjs copying the qcow2's data extents
// from the file, no protocol), the NBD floor (nbd-floor-server.mjs: the least a Node server does
// to serve the same copy, no format or block layer; timed in the same rounds) and a fixed-cost
// line (nbdinfo --size: a connection and handshake).
// Not a test.
// --exe-b adds a second tessera-nbd build to the same rounds (an A/B of a change, under one load).
//   node bench/nbd-server.mjs [--size 256] (MiB) [--rounds 5] [--exe path] [--exe-b path]
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { executableFileName, workspaceRoot } from '../tools/build/paths.mjs';
import { makeFragmentedImage } from './fragmented-image.mjs';
import { rusageRunner } from './rusage-runner.mjs';

const appRoot = join(workspaceRoot, 'packages/nbd-server');
const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '256' },
    rounds: { type: 'string', default: '5' },
    exe: { type: 'string', default: join(appRoot, 'dist', executableFileName(appRoot)) },
    'exe-b': { type: 'string' },
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

const runner = rusageRunner(process.env);

/** One run of a client command against a server: wall ms, the client's CPU ms, the server's CPU ms meanwhile. */
async function timed(command, server) {
  spawnSync('sync');
  const before = cpuMs(server.pid);
  const { wall, cpu, faults } = await runner.run(command);
  return { ms: wall, client: cpu, faults, cpu: cpuMs(server.pid) - before };
}

const servers = [];
try {
  const raw = join(scratch, 'source.raw');
  const image = join(scratch, 'source.qcow2');
  makeFragmentedImage(raw, size, 0.5);
  spawnSync('qemu-img', ['convert', '-O', 'qcow2', raw, image]);
  rmSync(raw);
  const sockets = { 'tessera-nbd': join(scratch, 'tessera.sock'), 'qemu-nbd': join(scratch, 'qemu.sock'), 'NBD floor': join(scratch, 'floor.sock'), 'tessera-nbd B': join(scratch, 'tessera-b.sock') };
  const common = ['-r', '-t', '-e', '16', '-f', 'qcow2'];
  const extents = join(scratch, 'extents.json');
  writeFileSync(extents, spawnSync('qemu-img', ['map', '--output=json', '-f', 'qcow2', image], { encoding: 'utf8' }).stdout);
  const pids = {
    'tessera-nbd': await startServer(process.execPath, [values.exe, ...common, '-k', sockets['tessera-nbd'], image], sockets['tessera-nbd']),
    'qemu-nbd': await startServer('qemu-nbd', [...common, '-k', sockets['qemu-nbd'], image], sockets['qemu-nbd']),
    'NBD floor': await startServer(process.execPath, [join(workspaceRoot, 'bench/nbd-floor-server.mjs'), image, extents, sockets['NBD floor']], sockets['NBD floor']),
  };
  if (values['exe-b']) pids['tessera-nbd B'] = await startServer(process.execPath, [values['exe-b'], ...common, '-k', sockets['tessera-nbd B'], image], sockets['tessera-nbd B']);
  servers.push(...Object.values(pids));
  console.log(`nbdcopy to null: of a ${values.size} MiB qcow2, data and zero runs of 4-64 KiB interleaved (50% data)`);
  console.log(`  (load average ${loadavg()[0].toFixed(1)} on ${availableParallelism()} cores)`);
  const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
  const floor = [];
  for (let round = 0; round < rounds; round++) {
    rmSync(join(scratch, 'floor.raw'), { force: true });
    floor.push(await runner.run([process.execPath, join(workspaceRoot, 'bench/node-copy-floor.mjs'), image, extents, join(scratch, 'floor.raw'), String(size)]));
  }
  rmSync(join(scratch, 'floor.raw'), { force: true });
  console.log(`  Node floor   ${median(floor.map((s) => s.wall)).toFixed(0).padStart(6)} ms wall, CPU ${median(floor.map((s) => s.cpu)).toFixed(0)} ms (node-copy-floor.mjs: the data extents copied from the file, no protocol)`);
  const url = (name) => `nbd+unix:///?socket=${sockets[name]}`;
  const kinds = {
    fixed: (name) => ['nbdinfo', '--size', url(name)],
    copy: (name) => ['nbdcopy', url(name), 'null:'],
  };
  for (const [kind, command] of Object.entries(kinds)) {
    const samples = Object.fromEntries(Object.keys(pids).map((name) => [name, []]));
    const names = Object.keys(samples);
    if (kind === 'copy') for (const name of names) await runner.run(command(name)); // warm-up: page cache, JIT
    // Alternating rounds (the order turns each round): the machine's load drifts.
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < names.length; i++) {
        const name = names[(round + i) % names.length];
        samples[name].push(await timed(command(name), pids[name]));
      }
    }
    const results = Object.fromEntries(
      Object.entries(samples).map(([name, list]) => [
        name,
        { ms: median(list.map((s) => s.ms)), cpu: median(list.map((s) => s.cpu)), all: median(list.map((s) => s.cpu + s.client)), faults: median(list.map((s) => s.faults)) },
      ]),
    );
    for (const [name, r] of Object.entries(results)) {
      console.log(`  ${kind.padEnd(5)} ${name.padEnd(12)} ${r.ms.toFixed(0).padStart(6)} ms wall, server CPU ${r.cpu.toFixed(0)} ms, with nbdcopy's ${r.all.toFixed(0)} ms; nbdcopy's page faults ${r.faults} (medians of ${rounds})`);
    }
    const [ours, theirs, floor] = [results['tessera-nbd'], results['qemu-nbd'], results['NBD floor']];
    console.log(
      `  ${kind.padEnd(5)} ratio (tessera-nbd / qemu-nbd, goal <= 1.00): ${(ours.ms / theirs.ms).toFixed(2)}; server CPU ratio ${(ours.cpu / theirs.cpu).toFixed(2)}; with the client ${(ours.all / theirs.all).toFixed(2)}`,
    );
    console.log(`  ${kind.padEnd(5)} NBD floor / qemu-nbd: ${(floor.ms / theirs.ms).toFixed(2)}; server CPU ${(floor.cpu / theirs.cpu).toFixed(2)} (nbd-floor-server.mjs: the least a Node server does)`);
    const b = results['tessera-nbd B'];
    if (b) console.log(`  ${kind.padEnd(5)} tessera-nbd B / qemu-nbd: ${(b.ms / theirs.ms).toFixed(2)}; server CPU ${(b.cpu / theirs.cpu).toFixed(2)} (${values['exe-b']})`);
  }
} finally {
  runner.close();
  for (const child of servers) child.kill('SIGTERM');
  rmSync(scratch, { recursive: true, force: true });
}
