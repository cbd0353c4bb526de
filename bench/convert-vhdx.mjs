#!/usr/bin/env node
// `convert` raw -> vhdx and vhdx -> raw (and the same for vpc) of tessera-img against qemu-img
// on one image whose data and zero runs interleave finely (runs of 4 KiB to 256 KiB, random data
// and written zeroes alternating), in one run. Runs alternate which tool goes first; the page
// cache is synced outside the timing. Prints the medians and time(tessera-img)/time(qemu-img).
// Not a test: node bench/convert-vhdx.mjs [--size 256] (MiB) [--runs 3] [--formats vhdx,vpc] [--exe path]
import { spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { executableFileName, workspaceRoot } from '../tools/build/paths.mjs';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '256' },
    runs: { type: 'string', default: '3' },
    formats: { type: 'string', default: 'vhdx,vpc' },
    exe: { type: 'string', default: join(workspaceRoot, 'packages/img-tool/dist', executableFileName(join(workspaceRoot, 'packages/img-tool'))) },
  },
});
const size = Number(values.size) * 2 ** 20;
const runs = Number(values.runs);
const scratch = mkdtempSync(join(tmpdir(), 'tessera-bench-vhdx-'));
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;

function run(command) {
  spawnSync('sync');
  const start = process.hrtime.bigint();
  const result = spawnSync(command[0], command.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) throw new Error(`${command.join(' ')} failed (${result.status}): ${result.stderr}`);
  return ms;
}

/** Data and zero runs of 4 KiB to 256 KiB, alternating, from a fixed seed. */
function makeImage(path) {
  const fd = openSync(path, 'w');
  let x = 0x9e3779b9;
  const next = () => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), x >>> 0);
  const buffer = Buffer.alloc(256 * 1024);
  let data = true;
  for (let at = 0; at < size; data = !data) {
    const length = Math.min(4096 * (1 + (next() % 64)), size - at);
    const chunk = buffer.subarray(0, length);
    if (data) randomFillSync(chunk);
    else chunk.fill(0);
    writeSync(fd, chunk, 0, length, at);
    at += length;
  }
  closeSync(fd);
}

const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
const tools = { 'qemu-img': ['qemu-img'], 'tessera-img': [process.execPath, values.exe] };

try {
  const source = join(scratch, 'source.raw');
  makeImage(source);
  console.log(`image: ${values.size} MiB, data and zero runs of 4-256 KiB interleaved; ${runs} runs each, medians`);
  for (const format of values.formats.split(',')) {
    const reference = join(scratch, `reference.${format}`);
    run(['qemu-img', 'convert', '-O', format, source, reference]);
    const cases = {
      [`raw -> ${format}`]: (out) => ['convert', '-O', format, source, out + `.${format}`],
      [`${format} -> raw`]: (out) => ['convert', '-O', 'raw', reference, out + '.raw'],
    };
    for (const [name, args] of Object.entries(cases)) {
      const times = { 'qemu-img': [], 'tessera-img': [] };
      for (let i = 0; i < runs; i++) {
        const order = i % 2 ? ['tessera-img', 'qemu-img'] : ['qemu-img', 'tessera-img'];
        for (const tool of order) {
          const out = join(scratch, `out-${tool}`);
          times[tool].push(run([...tools[tool], ...args(out)]));
          rmSync(out + `.${format}`, { force: true });
          rmSync(out + '.raw', { force: true });
        }
      }
      const q = median(times['qemu-img']);
      const t = median(times['tessera-img']);
      console.log(`${name.padEnd(14)} qemu-img ${q.toFixed(0).padStart(6)} ms   tessera-img ${t.toFixed(0).padStart(6)} ms   ratio ${(t / q).toFixed(2)}`);
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
