#!/usr/bin/env node
// A/B of tessera-img's convert: two builds (A, e.g. a build of an older commit, and B, by default
// this tree's) on the same image as bench/convert.mjs (half random data, half written zeroes).
// Runs interleaved (A and B alternate who goes first); the page cache is synced before each run,
// outside the timing. Prints the median and the fastest run of each, wall time and CPU time
// (user + sys of all threads, rusage-runner.mjs), and B's change against A. Without
// NODE_EXTRA_CA_CERTS (see convert.mjs). Not a test; needs python3.
//   node bench/convert-ab.mjs --a TREE-OR-EXECUTABLE [--b ...] [--size 1024] (MiB) [--runs 3] [--case c,qcow2,raw]
// Cases: c = `-c -O qcow2` (compressed), qcow2 = `-O qcow2`, raw = qcow2 -> raw.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { workspaceRoot } from '../tools/build/paths.mjs';
import { imgToolExecutable } from './img-tool-build.mjs';
import { makeHalvesImage } from './fragmented-image.mjs';
import { change, quantile, rusageRunner } from './rusage-runner.mjs';

const { values } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string', default: workspaceRoot },
    size: { type: 'string', default: '1024' },
    runs: { type: 'string', default: '3' },
    case: { type: 'string', default: 'c' },
  },
});
if (!values.a) {
  process.stderr.write('usage: node bench/convert-ab.mjs --a TREE-OR-EXECUTABLE [--b TREE-OR-EXECUTABLE] [--size MiB] [--runs N] [--case c,qcow2,raw]\n');
  process.exit(2);
}

const builds = { A: imgToolExecutable(values.a), B: imgToolExecutable(values.b) };
const size = Number(values.size) * 2 ** 20;
const runs = Number(values.runs);
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;
const scratch = mkdtempSync(join(tmpdir(), 'tessera-bench-convert-ab-'));

const runner = rusageRunner(env);
try {
  const raw = join(scratch, 'source.raw');
  const qcow2 = join(scratch, 'source.qcow2');
  makeHalvesImage(raw, size);
  spawnSync('qemu-img', ['convert', '-O', 'qcow2', raw, qcow2]);
  const out = (name) => join(scratch, name);
  const allCases = {
    c: { name: '-c raw -> qcow2', args: ['convert', '-c', '-O', 'qcow2', raw, out('out.qcow2')] },
    qcow2: { name: 'raw -> qcow2', args: ['convert', '-O', 'qcow2', raw, out('out.qcow2')] },
    raw: { name: 'qcow2 -> raw', args: ['convert', '-O', 'raw', qcow2, out('out.raw')] },
  };
  const cases = values.case.split(',').map((name) => {
    if (!allCases[name]) throw new Error(`no case ${name}; cases: ${Object.keys(allCases).join(', ')}`);
    return allCases[name];
  });
  console.log(`A: ${builds.A}\nB: ${builds.B}`);
  console.log(`convert of a ${values.size} MiB image, half random, half zeroes; ${runs} interleaved runs each; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} at the start`);
  for (const c of cases) {
    const samples = { A: [], B: [] };
    for (let i = 0; i < runs; i++) {
      for (const build of i % 2 === 0 ? ['A', 'B'] : ['B', 'A']) {
        rmSync(c.args.at(-1), { force: true });
        spawnSync('sync');
        samples[build].push(await runner.run([process.execPath, builds[build], ...c.args]));
      }
    }
    console.log(`  ${c.name} (load average now ${loadavg()[0].toFixed(2)})`);
    for (const measure of ['wall', 'cpu']) {
      const a = samples.A.map((s) => s[measure]);
      const b = samples.B.map((s) => s[measure]);
      const [a50, b50, a0, b0] = [quantile(a, 0.5), quantile(b, 0.5), Math.min(...a), Math.min(...b)];
      console.log(
        `    ${(measure === 'wall' ? 'wall ms' : 'CPU ms').padEnd(8)} median A ${a50.toFixed(0)}  B ${b50.toFixed(0)}  ${change(b50, a50)}    fastest A ${a0.toFixed(0)}  B ${b0.toFixed(0)}  ${change(b0, a0)}    (A: ${a.map((x) => x.toFixed(0)).join(' ')}; B: ${b.map((x) => x.toFixed(0)).join(' ')})`,
      );
    }
  }
} finally {
  runner.close();
  rmSync(scratch, { recursive: true, force: true });
}
