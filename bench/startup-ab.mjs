#!/usr/bin/env node
// A/B of tessera-img's startup: two builds (A, e.g. a build of an older commit, and B, by default
// this tree's) on the quick commands `info x.raw`, `info x.qcow2` (builtin drivers), `info x.vhdx`
// (a loadable module: finding, verifying and running its file) and `--version`. Runs are
// interleaved (A and B alternate who goes first, every case in every round) so drift in machine
// load hits both alike; prints the 10th percentile (the least disturbed runs: the best estimate
// on a shared machine) and the median of each, wall time and CPU time (rusage-runner.mjs), and
// B's change against A. Every command runs without NODE_EXTRA_CA_CERTS (see startup.mjs). Not a
// test; needs python3.
//   node bench/startup-ab.mjs --a OTHER-TREE-OR-EXECUTABLE [--b ...] [--runs 100] [--case raw,qcow2,vhdx,version]
// A tree is a repository checkout whose img-tool is built (packages/img-tool/dist/<bin>).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { workspaceRoot } from '../tools/build/paths.mjs';
import { imgToolExecutable } from './img-tool-build.mjs';
import { change, quantile, rusageRunner } from './rusage-runner.mjs';

const { values } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string', default: workspaceRoot },
    runs: { type: 'string', default: '100' },
    case: { type: 'string', default: 'raw,qcow2,vhdx,version' },
  },
});
if (!values.a) {
  process.stderr.write('usage: node bench/startup-ab.mjs --a TREE-OR-EXECUTABLE [--b TREE-OR-EXECUTABLE] [--runs N] [--case raw,qcow2,vhdx,version]\n');
  process.exit(2);
}

const builds = { A: imgToolExecutable(values.a), B: imgToolExecutable(values.b) };
const runs = Number(values.runs);
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;
const scratch = mkdtempSync(join(tmpdir(), 'tessera-bench-ab-'));
const raw = join(scratch, 'x.raw');
const qcow2 = join(scratch, 'x.qcow2');
const vhdx = join(scratch, 'x.vhdx');
for (const [format, file] of [['raw', raw], ['qcow2', qcow2], ['vhdx', vhdx]]) spawnSync('qemu-img', ['create', '-q', '-f', format, file, '64M']);
const allCases = { raw: ['info', raw], qcow2: ['info', qcow2], vhdx: ['info', vhdx], version: ['--version'] };
const cases = values.case.split(',').map((name) => {
  if (!allCases[name]) throw new Error(`no case ${name}; cases: ${Object.keys(allCases).join(', ')}`);
  return { name, args: allCases[name] };
});

const runner = rusageRunner(env);
const once = (exe, args) => runner.run([process.execPath, exe, ...args]);

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
runner.close();
rmSync(scratch, { recursive: true, force: true });

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
      `  ${c.name.padEnd(10)} ${a10.toFixed(1).padStart(8)} ${b10.toFixed(1).padStart(8)} ${change(b10, a10).padStart(8)}   ${a50.toFixed(1).padStart(8)} ${b50.toFixed(1).padStart(8)} ${change(b50, a50).padStart(8)}`,
    );
  }
}
