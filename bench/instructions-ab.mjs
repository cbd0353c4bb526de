#!/usr/bin/env node
// A/B of tessera-img by instructions executed, not time: two builds (A and B, as in
// startup-ab.mjs / convert-ab.mjs) run each case under valgrind's cachegrind (no cache
// simulation), which counts every instruction of every thread. Unlike wall or CPU time the count
// does not move with machine load or with how the thread pool's threads were scheduled, so a
// change of 1% is visible on a busy two-core machine where a timed A/B spreads by ±15%. It cannot
// see what costs time without instructions (syscalls, page faults, cache misses, thread
// contention): read it beside the timed A/Bs, not instead of them.
// The `version` case is Node's floor (start-up of the program, no work); each other case prints
// its count beside the floor so the command's own work can be read off.
//   node bench/instructions-ab.mjs --a TREE-OR-EXECUTABLE [--b ...] [--size 128] (MiB) [--runs 2]
//                                  [--case version,raw,qcow2,convert,c]
// Cases: raw/qcow2 = `info` of an empty image; convert = raw -> qcow2; c = `-c -O qcow2`, both of
// a half random, half zero image of --size MiB. Needs valgrind (apt: valgrind). Not a test.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { workspaceRoot } from '../tools/build/paths.mjs';
import { imgToolExecutable } from './img-tool-build.mjs';
import { makeHalvesImage } from './fragmented-image.mjs';

const { values } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string', default: workspaceRoot },
    size: { type: 'string', default: '128' },
    runs: { type: 'string', default: '2' },
    case: { type: 'string', default: 'version,raw,qcow2,convert,c' },
  },
});
if (!values.a) {
  process.stderr.write('usage: node bench/instructions-ab.mjs --a TREE-OR-EXECUTABLE [--b ...] [--size MiB] [--runs N] [--case version,raw,qcow2,convert,c]\n');
  process.exit(2);
}
if (spawnSync('valgrind', ['--version']).error) {
  process.stderr.write('instructions-ab: valgrind is not installed (apt-get install valgrind)\n');
  process.exit(2);
}

const builds = { A: imgToolExecutable(values.a), B: imgToolExecutable(values.b) };
const runs = Number(values.runs);
const scratch = mkdtempSync(join(tmpdir(), 'tessera-bench-ir-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

const raw = join(scratch, 'x.raw');
const qcow2 = join(scratch, 'x.qcow2');
spawnSync('qemu-img', ['create', '-q', '-f', 'raw', raw, '64M']);
spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', qcow2, '64M']);

/** Half random data, half written zeroes (as convert.mjs's input), made once. */
const source = join(scratch, 'source.raw');
makeHalvesImage(source, Number(values.size) * 2 ** 20);
const output = join(scratch, 'out.qcow2');
const allCases = {
  version: ['--version'],
  raw: ['info', raw],
  qcow2: ['info', qcow2],
  convert: ['convert', '-O', 'qcow2', source, output],
  c: ['convert', '-c', '-O', 'qcow2', source, output],
};
const cases = values.case.split(',').map((name) => {
  if (!allCases[name]) throw new Error(`no case ${name}; cases: ${Object.keys(allCases).join(', ')}`);
  return { name, args: allCases[name] };
});

/** Instructions of one run (cachegrind's "I refs"), all threads. */
function instructions(exe, args) {
  rmSync(output, { force: true });
  const run = spawnSync('valgrind', ['--tool=cachegrind', '--cache-sim=no', '--cachegrind-out-file=/dev/null', process.execPath, exe, ...args], {
    encoding: 'utf8',
    maxBuffer: 64 * 2 ** 20,
  });
  const match = /I\s+refs:\s+([\d,]+)/.exec(run.stderr);
  if (run.status !== 0 || !match) throw new Error(`${exe} ${args.join(' ')} failed under valgrind (exit ${run.status}):\n${run.stderr.slice(-2000)}`);
  return Number(match[1].replaceAll(',', ''));
}

const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const mega = (n) => `${(n / 1e6).toFixed(1)}M`;
const pct = (a, b) => `${b >= a ? '+' : ''}${(((b - a) / a) * 100).toFixed(2)}%`;

console.log(`A: ${builds.A}\nB: ${builds.B}\ninstructions under cachegrind, median of ${runs} interleaved runs each; convert input ${values.size} MiB`);
const floor = {};
for (const c of cases) {
  const counts = { A: [], B: [] };
  for (let i = 0; i < runs; i++) {
    const order = i % 2 ? ['B', 'A'] : ['A', 'B'];
    for (const build of order) counts[build].push(instructions(builds[build], c.args));
  }
  const a = median(counts.A);
  const b = median(counts.B);
  if (c.name === 'version') Object.assign(floor, { A: a, B: b });
  const work = floor.A && c.name !== 'version' ? `    beyond Node's floor: A ${mega(a - floor.A)}  B ${mega(b - floor.B)}  ${pct(a - floor.A, b - floor.B)}` : '';
  console.log(`  ${c.name.padEnd(8)} A ${mega(a)}  B ${mega(b)}  ${pct(a, b)}${work}   (A: ${counts.A.map(mega).join(' ')}; B: ${counts.B.map(mega).join(' ')})`);
}
