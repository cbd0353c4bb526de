#!/usr/bin/env node
// `convert` to and from Ceph RBD, tessera-img against qemu-img on the same cluster, in one run:
// local raw -> rbd:… (a new image each run) and rbd:… -> local raw. The source is half random
// data, half zeroes (whole objects of zeroes, which both tools leave unwritten). Runs alternate
// who goes first; prints medians and time(tessera-img)/time(qemu-img). Both tools run without
// NODE_EXTRA_CA_CERTS (see convert.mjs). Needs a running cluster with a pool `rbd`: give its
// ceph.conf (with a keyring), e.g. one the block-rbd tests' helper starts. Not a test.
//   node bench/convert-rbd.mjs --conf /path/ceph.conf [--size 256] (MiB) [--runs 5] [--exe path]
import { spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { executableFileName, workspaceRoot } from '../tools/build/paths.mjs';

const { values } = parseArgs({
  options: {
    conf: { type: 'string' },
    size: { type: 'string', default: '256' },
    runs: { type: 'string', default: '5' },
    exe: { type: 'string', default: join(workspaceRoot, 'packages/img-tool/dist', executableFileName(join(workspaceRoot, 'packages/img-tool'))) },
  },
});
if (!values.conf) throw new Error('--conf PATH (the ceph.conf of a running cluster with a pool rbd) is required');
const size = Number(values.size) * 2 ** 20;
const runs = Number(values.runs);
const scratch = mkdtempSync(join(tmpdir(), 'tessera-bench-rbd-'));
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;
const rbdName = (image) => `rbd:rbd/${image}:conf=${values.conf}`;

function run(command) {
  const start = process.hrtime.bigint();
  const result = spawnSync(command[0], command.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) throw new Error(`${command.join(' ')} failed (${result.status}): ${result.stderr}`);
  return ms;
}

function removeImage(image) {
  spawnSync('rbd', ['-c', values.conf, 'rm', '--no-progress', `rbd/${image}`], { stdio: 'ignore' });
}

const source = join(scratch, 'source.raw');
const fd = openSync(source, 'w');
const chunk = Buffer.alloc(4 * 2 ** 20);
for (let at = 0; at < size; at += chunk.length) {
  // Alternate 4 MiB objects of random data and of zeroes.
  const data = (at / chunk.length) % 2 === 0 ? randomFillSync(chunk) : Buffer.alloc(chunk.length);
  writeSync(fd, data, 0, Math.min(chunk.length, size - at), at);
}
closeSync(fd);
// The rbd source both tools read: written once by qemu-img.
removeImage('bench-source');
run(['qemu-img', 'convert', '-f', 'raw', '-O', 'raw', source, rbdName('bench-source')]);

const tools = {
  'tessera-img': (args) => [process.execPath, values.exe, ...args],
  'qemu-img': (args) => ['qemu-img', ...args],
};
const cases = {
  'raw -> rbd': (tool, i) => {
    const image = `bench-${tool}-${i}`;
    removeImage(image);
    const ms = run(tools[tool](['convert', '-f', 'raw', '-O', 'raw', source, rbdName(image)]));
    removeImage(image);
    return ms;
  },
  'rbd -> raw': (tool) => {
    const out = join(scratch, 'out.raw');
    rmSync(out, { force: true });
    return run(tools[tool](['convert', '-O', 'raw', rbdName('bench-source'), out]));
  },
};
const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
console.log(`convert of ${values.size} MiB (half data, half zero objects), ${runs} runs each, medians:`);
for (const [name, timed] of Object.entries(cases)) {
  const times = { 'tessera-img': [], 'qemu-img': [] };
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? ['tessera-img', 'qemu-img'] : ['qemu-img', 'tessera-img'];
    for (const tool of order) times[tool].push(timed(tool, i));
  }
  const ours = median(times['tessera-img']);
  const theirs = median(times['qemu-img']);
  console.log(`${name.padEnd(12)} tessera-img ${ours.toFixed(0).padStart(6)} ms   qemu-img ${theirs.toFixed(0).padStart(6)} ms   ratio ${(ours / theirs).toFixed(2)}`);
}
removeImage('bench-source');
rmSync(scratch, { recursive: true, force: true });
