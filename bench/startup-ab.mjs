#!/usr/bin/env node
// A/B of tessera-img's startup: two builds (A, e.g. a build of an older commit, and B, by default
// this tree's) on the quick commands `info x.raw`, `info x.qcow2` and `--version`. Runs are
// interleaved (A and B alternate who goes first, every case in every round) so drift in machine
// load hits both alike; prints the 10th percentile (the least disturbed runs: the best estimate
// on a shared machine) and the median of each, wall time and CPU time, and B's change against A.
// Every command runs without NODE_EXTRA_CA_CERTS (see startup.mjs). Not a test; needs python3.
//   node bench/startup-ab.mjs --a OTHER-TREE-OR-EXECUTABLE [--b ...] [--runs 100] [--case raw,qcow2,version]
// A tree is a repository checkout whose img-tool is built (packages/img-tool/dist/<bin>).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { executableFileName, workspaceRoot } from '../tools/build/paths.mjs';

const { values } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string', default: workspaceRoot },
    runs: { type: 'string', default: '100' },
    case: { type: 'string', default: 'raw,qcow2,version' },
  },
});
if (!values.a) {
  process.stderr.write('usage: node bench/startup-ab.mjs --a TREE-OR-EXECUTABLE [--b TREE-OR-EXECUTABLE] [--runs N] [--case raw,qcow2,version]\n');
  process.exit(2);
}

/** The executable of a tree (its built img-tool) or the executable itself. */
function executable(path) {
  if (statSync(path).isFile()) return path;
  const app = join(path, 'packages/img-tool');
  const pkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8'));
  return join(app, 'dist', executableFileName(app) ?? pkg.bin['tessera-img']);
}

const builds = { A: executable(values.a), B: executable(values.b) };
const runs = Number(values.runs);
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;
const scratch = mkdtempSync(join(tmpdir(), 'tessera-bench-ab-'));
const raw = join(scratch, 'x.raw');
const qcow2 = join(scratch, 'x.qcow2');
spawnSync('qemu-img', ['create', '-q', '-f', 'raw', raw, '64M']);
spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', qcow2, '64M']);
const allCases = { raw: ['info', raw], qcow2: ['info', qcow2], version: ['--version'] };
const cases = values.case.split(',').map((name) => {
  if (!allCases[name]) throw new Error(`no case ${name}; cases: ${Object.keys(allCases).join(', ')}`);
  return { name, args: allCases[name] };
});

// Each run is spawned and reaped by a small python3 helper (os.wait4), which gives the child's
// CPU time (user + sys of all its threads, from its rusage) beside the wall time: on a shared,
// loaded machine the CPU time barely moves with load, where the wall time includes waiting for a core.
const HELPER = `
import json, os, sys, time
env = json.loads(sys.stdin.readline())
for line in sys.stdin:
    argv = json.loads(line)
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=[(os.POSIX_SPAWN_OPEN, 1, '/dev/null', os.O_WRONLY, 0), (os.POSIX_SPAWN_OPEN, 2, '/dev/null', os.O_WRONLY, 0)])
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    print(json.dumps([wall * 1000, (usage.ru_utime + usage.ru_stime) * 1000, os.waitstatus_to_exitcode(status)]), flush=True)
`;
const helper = spawn('python3', ['-u', '-c', HELPER], { stdio: ['pipe', 'pipe', 'inherit'] });
const replies = createInterface({ input: helper.stdout })[Symbol.asyncIterator]();
helper.stdin.write(`${JSON.stringify(env)}\n`);

async function once(exe, args) {
  helper.stdin.write(`${JSON.stringify([process.execPath, exe, ...args])}\n`);
  const reply = await replies.next();
  if (reply.done) throw new Error('the python3 helper ended');
  const [wall, cpu, status] = JSON.parse(reply.value);
  if (status !== 0) throw new Error(`${exe} ${args.join(' ')} failed (exit ${status}); run it by hand to see why`);
  return { wall, cpu };
}

const samples = new Map();
const key = (build, name) => `${build} ${name}`;
for (const build of Object.keys(builds)) for (const c of cases) samples.set(key(build, c.name), []);
const loadBefore = loadavg();
for (const c of cases) for (const exe of Object.values(builds)) await once(exe, c.args); // warm the page cache
for (let i = 0; i < runs; i++) {
  const order = i % 2 === 0 ? ['A', 'B'] : ['B', 'A'];
  for (const c of cases) for (const build of order) samples.get(key(build, c.name)).push(await once(builds[build], c.args));
}
const loadAfter = loadavg();
helper.stdin.end();
rmSync(scratch, { recursive: true, force: true });

const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * q)];
const pct = (b, a) => `${b >= a ? '+' : ''}${(((b - a) / a) * 100).toFixed(1)}%`;
console.log(`A: ${builds.A}\nB: ${builds.B}`);
console.log(`${runs} interleaved runs each; load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')} before, ${loadAfter.map((l) => l.toFixed(2)).join(' ')} after`);
for (const measure of ['wall', 'cpu']) {
  console.log(measure === 'wall' ? 'wall time (ms)' : 'CPU time, user + sys (ms)');
  console.log(`  ${'case'.padEnd(10)} ${'A p10'.padStart(8)} ${'B p10'.padStart(8)} ${'change'.padStart(8)}   ${'A median'.padStart(8)} ${'B median'.padStart(8)} ${'change'.padStart(8)}`);
  for (const c of cases) {
    const a = samples.get(key('A', c.name)).map((s) => s[measure]);
    const b = samples.get(key('B', c.name)).map((s) => s[measure]);
    const [a10, b10, a50, b50] = [quantile(a, 0.1), quantile(b, 0.1), quantile(a, 0.5), quantile(b, 0.5)];
    console.log(
      `  ${c.name.padEnd(10)} ${a10.toFixed(1).padStart(8)} ${b10.toFixed(1).padStart(8)} ${pct(b10, a10).padStart(8)}   ${a50.toFixed(1).padStart(8)} ${b50.toFixed(1).padStart(8)} ${pct(b50, a50).padStart(8)}`,
    );
  }
}
