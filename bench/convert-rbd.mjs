#!/usr/bin/env node
// `convert` to and from Ceph RBD, tessera-img against qemu-img on the same cluster, in one run:
// local raw -> rbd:… (a new image each run) and rbd:… -> local raw. The source is either half
// random data, half zeroes in whole 4 MiB objects (which both tools leave unwritten), or with
// --fragmented bench/fragmented-image.mjs's used disk (data and zero runs of 4-64 KiB, so nearly
// every object holds data and the writes are small). Runs alternate who goes first; prints
// medians of wall and CPU time (user+sys, when GNU time is installed) and
// time(tessera-img)/time(qemu-img), and the load average (above the number of cores, wall-clock
// ratios are noise), and the Node floor (node-copy-floor.mjs copying the local source's data
// extents to a local file, no protocol: what Node's startup and file I/O alone cost here). Each tool's output is compared with the source. Both tools run without
// NODE_EXTRA_CA_CERTS (see convert.mjs). Needs a running cluster with a pool `rbd`: give its
// ceph.conf (with a keyring), e.g. one the block-rbd tests' helper starts (its OSD keeps objects in
// memory, memstore's 1 GiB by default: the source and one target must fit, so --size ≤ 400; for
// --size 1024 start it with startCeph({ memstoreBytes: 4 * 2 ** 30 })). Not a test.
//   node bench/convert-rbd.mjs --conf /path/ceph.conf [--size 256] (MiB) [--runs 5] [--fragmented] [--exe path]
import { spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { executableFileName, workspaceRoot } from '../tools/build/paths.mjs';
import { makeFragmentedImage } from './fragmented-image.mjs';

const { values } = parseArgs({
  options: {
    conf: { type: 'string' },
    size: { type: 'string', default: '256' },
    runs: { type: 'string', default: '5' },
    fragmented: { type: 'boolean', default: false },
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

const gnuTime = spawnSync('/usr/bin/time', ['-f', '%U', 'true']).status === 0;

/**
 * Wall and CPU (user+sys) milliseconds of one command. The page cache is synced first: an
 * rbd -> raw run leaves its output's data dirty, and the next run, of either tool, would be
 * slowed by its writeback.
 */
function run(command) {
  spawnSync('sync');
  const wrapped = gnuTime ? ['/usr/bin/time', '-f', 'cpu %U %S', ...command] : command;
  const start = process.hrtime.bigint();
  const result = spawnSync(wrapped[0], wrapped.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) throw new Error(`${command.join(' ')} failed (${result.status}): ${result.stderr}`);
  const times = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(String(result.stderr));
  return { ms, cpu: times ? (Number(times[1]) + Number(times[2])) * 1000 : NaN };
}

/** The same bytes as the source (qemu-img compare), or the bench stops. */
function checkSame(name, other) {
  const same = spawnSync('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', source, other], { encoding: 'utf8' });
  if (same.status !== 0) throw new Error(`${name}: the output differs from the source: ${same.stdout}${same.stderr}`);
}

function removeImage(image) {
  spawnSync('rbd', ['-c', values.conf, 'rm', '--no-progress', `rbd/${image}`], { stdio: 'ignore' });
}

const source = join(scratch, 'source.raw');
if (values.fragmented) makeFragmentedImage(source, size, 0.5);
else {
  const fd = openSync(source, 'w');
  const chunk = Buffer.alloc(4 * 2 ** 20);
  for (let at = 0; at < size; at += chunk.length) {
    // Alternate 4 MiB objects of random data and of zeroes.
    const data = (at / chunk.length) % 2 === 0 ? randomFillSync(chunk) : Buffer.alloc(chunk.length);
    writeSync(fd, data, 0, Math.min(chunk.length, size - at), at);
  }
  closeSync(fd);
}
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
    const times = run(tools[tool](['convert', '-f', 'raw', '-O', 'raw', source, rbdName(image)]));
    if (i === 0) checkSame(`raw -> rbd (${tool})`, rbdName(image));
    removeImage(image);
    return times;
  },
  'rbd -> raw': (tool) => {
    const out = join(scratch, 'out.raw');
    rmSync(out, { force: true });
    const times = run(tools[tool](['convert', '-O', 'raw', rbdName('bench-source'), out]));
    checkSame(`rbd -> raw (${tool})`, out);
    return times;
  },
};
const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
console.log(`convert of ${values.size} MiB (${values.fragmented ? 'fragmented: 4-64 KiB data and zero runs, 50% data' : 'half data, half zero objects'}), ${runs} runs each, medians:`);
console.log(`  (load average ${loadavg()[0].toFixed(1)} on ${availableParallelism()} cores)`);
const extents = join(scratch, 'extents.json');
writeFileSync(extents, spawnSync('qemu-img', ['map', '--output=json', '-f', 'raw', source], { encoding: 'utf8' }).stdout);
const floor = [];
for (let i = 0; i < runs; i++) {
  const out = join(scratch, 'floor.raw');
  rmSync(out, { force: true });
  floor.push(run([process.execPath, join(workspaceRoot, 'bench/node-copy-floor.mjs'), source, extents, out, String(size)]));
}
console.log(
  `${'Node floor'.padEnd(12)} ${median(floor.map((t) => t.ms)).toFixed(0).padStart(6)} ms` +
    (gnuTime ? `   CPU ${median(floor.map((t) => t.cpu)).toFixed(0)} ms` : '') +
    '   (node-copy-floor.mjs: the source\'s data extents copied locally, no protocol)',
);
rmSync(join(scratch, 'floor.raw'), { force: true });
for (const [name, timed] of Object.entries(cases)) {
  const times = { 'tessera-img': [], 'qemu-img': [] };
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? ['tessera-img', 'qemu-img'] : ['qemu-img', 'tessera-img'];
    for (const tool of order) times[tool].push(timed(tool, i));
  }
  const [ours, theirs] = [median(times['tessera-img'].map((t) => t.ms)), median(times['qemu-img'].map((t) => t.ms))];
  const [oursCpu, theirsCpu] = [median(times['tessera-img'].map((t) => t.cpu)), median(times['qemu-img'].map((t) => t.cpu))];
  console.log(
    `${name.padEnd(12)} tessera-img ${ours.toFixed(0).padStart(6)} ms   qemu-img ${theirs.toFixed(0).padStart(6)} ms   ratio ${(ours / theirs).toFixed(2)}` +
      (gnuTime ? `   CPU ${oursCpu.toFixed(0)} / ${theirsCpu.toFixed(0)} ms, ratio ${(oursCpu / theirsCpu).toFixed(2)}` : ''),
  );
}
removeImage('bench-source');
rmSync(scratch, { recursive: true, force: true });
