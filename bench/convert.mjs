#!/usr/bin/env node
// `convert` of tessera-img against qemu-img on the same image, in one run: raw -> qcow2,
// qcow2 -> raw and -c (raw -> compressed qcow2). The image is half random data, half zeroes
// (written zeroes by default; --sparse leaves them a hole, which qemu-img skips without reading
// and Node, lacking SEEK_DATA, must read). Runs are interleaved (the two tools alternate who goes
// first) so drift in machine load hits both alike. Prints medians and time(tessera-img)/time(qemu-img),
// and the same ratio of the fastest runs.
// Before each timed run the page cache is synced (outside the timing), so neither tool pays for
// writing back the other's output. Both tools run without NODE_EXTRA_CA_CERTS unless --keep-env:
// when set, Node parses every certificate of that bundle at startup (about 90 ms here), which a
// tool that never opens a TLS connection should not be charged for.
// Not a test: run it with `npm run bench:convert`.
// For qcow2 -> raw it also times Node's floor (node-copy-floor.mjs): a Node program that only copies
// the data extents, told where they are. Its ratio to qemu-img is the best any Node tool could reach.
// --cluster-size N gives both tools' qcow2 outputs that cluster size (small clusters weigh the
// per-cluster costs, of -c above all).
//   node bench/convert.mjs [--size 1024] (MiB) [--runs 5] [--compress-runs 3] [--sparse] [--cluster-size 65536] [--keep-env] [--exe path]
import { spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { executableFileName, workspaceRoot } from '../tools/build/paths.mjs';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '1024' },
    runs: { type: 'string', default: '5' },
    'compress-runs': { type: 'string', default: '3' },
    sparse: { type: 'boolean', default: false },
    'cluster-size': { type: 'string' },
    'keep-env': { type: 'boolean', default: false },
    exe: { type: 'string', default: join(workspaceRoot, 'packages/img-tool/dist', executableFileName(join(workspaceRoot, 'packages/img-tool'))) },
  },
});
const size = Number(values.size) * 2 ** 20;
const runs = Number(values.runs);
const compressRuns = Number(values['compress-runs']);
const clusterSize = values['cluster-size'] === undefined ? [] : ['-o', `cluster_size=${values['cluster-size']}`];
const scratch = mkdtempSync(join(tmpdir(), 'tessera-bench-convert-'));

const env = { ...process.env };
if (!values['keep-env']) delete env.NODE_EXTRA_CA_CERTS;

function run(command) {
  spawnSync('sync');
  const start = process.hrtime.bigint();
  const result = spawnSync(command[0], command.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) throw new Error(`${command.join(' ')} failed (${result.status}): ${result.stderr}`);
  return ms;
}

/** Half random bytes, then half zeroes (written, or a hole with --sparse). */
function makeImage(path) {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(8 * 2 ** 20);
  const half = Math.floor(size / 2 / 512) * 512;
  for (let at = 0; at < half; at += chunk.length) writeSync(fd, randomFillSync(chunk), 0, Math.min(chunk.length, half - at), at);
  chunk.fill(0);
  if (!values.sparse) for (let at = half; at < size; at += chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, size - at), at);
  ftruncateSync(fd, size);
  closeSync(fd);
}

try {
  const raw = join(scratch, 'source.raw');
  const qcow2 = join(scratch, 'source.qcow2');
  makeImage(raw);
  run(['qemu-img', 'convert', '-O', 'qcow2', ...clusterSize, raw, qcow2]);
  const out = (name) => join(scratch, name);
  const extents = join(scratch, 'extents.json');
  writeFileSync(extents, spawnSync('qemu-img', ['map', '--output=json', qcow2], { encoding: 'utf8' }).stdout);
  const cases = [
    { name: 'raw -> qcow2', args: ['convert', '-O', 'qcow2', ...clusterSize, raw, out('out.qcow2')], runs },
    { name: 'qcow2 -> raw', args: ['convert', '-O', 'raw', qcow2, out('out.raw')], runs, floor: [qcow2, extents, out('out.raw'), String(size)] },
    { name: '-c raw -> qcow2', args: ['convert', '-c', '-O', 'qcow2', ...clusterSize, raw, out('out.qcow2')], runs: compressRuns },
  ];
  const tools = {
    'tessera-img': (args) => [process.execPath, values.exe, ...args],
    'qemu-img': (args) => ['qemu-img', ...args],
  };
  console.log(`convert of a ${values.size} MiB image, half random, half zeroes${values.sparse ? ' (a hole)' : ''}${values['cluster-size'] ? `, ${values['cluster-size']}-byte clusters` : ''}; median ms`);
  if (process.env.NODE_EXTRA_CA_CERTS !== undefined) {
    console.log(`  (NODE_EXTRA_CA_CERTS is set: ${values['keep-env'] ? 'kept, so Node startup includes parsing it' : 'removed for the runs; --keep-env keeps it'})`);
  }
  console.log(`  ${'case'.padEnd(18)} ${'tessera-img'.padStart(11)} ${'qemu-img'.padStart(9)}  ratio (goal <= 1.00)  fastest runs' ratio`);
  for (const c of cases.filter((c) => c.runs > 0)) {
    const samples = { 'tessera-img': [], 'qemu-img': [], floor: [] };
    const command = (tool) => (tool === 'floor' ? [process.execPath, join(workspaceRoot, 'bench/node-copy-floor.mjs'), ...c.floor] : tools[tool](c.args));
    for (let i = 0; i < c.runs; i++) {
      const order = c.floor ? ['tessera-img', 'qemu-img', 'floor'] : ['tessera-img', 'qemu-img'];
      if (i % 2 === 1) order.reverse();
      for (const tool of order) {
        rmSync(c.args.at(-1), { force: true });
        samples[tool].push(run(command(tool)));
      }
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const ours = median(samples['tessera-img']);
    const theirs = median(samples['qemu-img']);
    // The fastest runs too: on a shared VM a slow phase can move both medians.
    const fastest = Math.min(...samples['tessera-img']) / Math.min(...samples['qemu-img']);
    const outSize = statSync(c.args.at(-1)).size;
    console.log(`  ${c.name.padEnd(18)} ${ours.toFixed(0).padStart(11)} ${theirs.toFixed(0).padStart(9)}  ${(ours / theirs).toFixed(2).padEnd(20)}  ${fastest.toFixed(2)}   (last output ${outSize} bytes)`);
    if (c.floor) {
      // Its output checked once, outside the timing: a floor that copied the wrong bytes would mean nothing.
      rmSync(c.args.at(-1), { force: true });
      run(command('floor'));
      const same = spawnSync('qemu-img', ['compare', '-f', 'qcow2', '-F', 'raw', qcow2, c.args.at(-1)], { encoding: 'utf8' });
      if (same.status !== 0) throw new Error(`node-copy-floor.mjs wrote a different image: ${same.stdout}${same.stderr}`);
      const floor = median(samples.floor);
      const floorFastest = Math.min(...samples.floor) / Math.min(...samples['qemu-img']);
      console.log(`  ${'  Node floor'.padEnd(18)} ${floor.toFixed(0).padStart(11)} ${theirs.toFixed(0).padStart(9)}  ${(floor / theirs).toFixed(2).padEnd(20)}  ${floorFastest.toFixed(2)}   (node-copy-floor.mjs: copies the data extents, nothing else)`);
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
