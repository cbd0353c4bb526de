#!/usr/bin/env node
// Boot-to-marker time of the test guest's disk image (SeaBIOS -> SYSLINUX -> Linux -> /init's
// `disk` test): tessera with the disk served through the block layer, bare v86 with the same disk
// in memory (bench/bare-v86.mjs), and Debian's qemu-system-i386 (TCG), interleaved in one run.
// Each is timed the same way: from spawning the process to the final marker on its console.
// Not a test: `node bench/boot.mjs [--runs N]` (needs tools/guest/build.sh and qemu-system-x86).
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { workspaceRoot } from '../tools/build/paths.mjs';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, timeout: { type: 'string', default: '240' } } });
const MARKER = 'TESSERA-GUEST: poweroff';
const guest = Object.fromEntries(
  spawnSync('bash', [join(workspaceRoot, 'tools/guest/build.sh'), '--quiet'], { encoding: 'utf8' })
    .stdout.trim().split('\n').map((line) => line.split('=')),
);
if (!guest.disk) throw new Error('tools/guest/build.sh gave no disk image');
if (spawnSync('qemu-system-i386', ['-version']).status !== 0) {
  console.error('boot bench: qemu-system-i386 is missing: apt-get install qemu-system-x86');
  process.exit(1);
}
const scratch = mkdtempSync(join(tmpdir(), 'tessera-boot-bench-'));

const cases = [
  { name: 'tessera (disk through the block layer)', stream: 'stdout',
    command: (disk) => [process.execPath, join(workspaceRoot, 'packages/emulator/dist/tessera.mjs'), '-m', '128', '-drive', `file=${disk},format=raw`, '-nographic'] },
  { name: 'bare v86 (disk in memory)', stream: 'stderr',
    command: (disk) => [process.execPath, join(workspaceRoot, 'bench/bare-v86.mjs'), '--image', disk, '--verbose'] },
  { name: 'qemu-system-i386 (TCG)', stream: 'stdout',
    command: (disk) => ['qemu-system-i386', '-m', '128', '-drive', `file=${disk},format=raw`, '-nographic', '-no-reboot'] },
];

function bootOnce(c, run) {
  const disk = join(scratch, `disk-${run}.img`);
  copyFileSync(guest.disk, disk);
  const [file, ...args] = c.command(disk);
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let seen = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${c.name}: no marker in ${values.timeout} s`)); }, Number(values.timeout) * 1000);
    child[c.stream].setEncoding('utf8').on('data', (text) => {
      seen = (seen + text).slice(-4096);
      if (seen.includes(MARKER)) {
        const ms = Number(process.hrtime.bigint() - start) / 1e6;
        clearTimeout(timer);
        child.kill('SIGKILL');
        resolve(ms);
      }
    });
  });
}

const times = new Map(cases.map((c) => [c.name, []]));
for (let run = 0; run < Number(values.runs); run++) {
  for (const c of cases) {
    const ms = await bootOnce(c, run);
    times.get(c.name).push(ms);
    console.error(`  run ${run + 1}: ${c.name}: ${(ms / 1000).toFixed(1)} s`);
  }
}
rmSync(scratch, { recursive: true, force: true });
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const min = (xs) => Math.min(...xs);
console.log(`boot to "${MARKER}", ${values.runs} runs each (s): median / min`);
for (const [name, xs] of times) console.log(`  ${name.padEnd(42)} ${(median(xs) / 1000).toFixed(1)} / ${(min(xs) / 1000).toFixed(1)}`);
const [ours, bare, qemu] = cases.map((c) => times.get(c.name));
console.log('ratios (median, min):');
console.log(`  tessera / bare v86          ${(median(ours) / median(bare)).toFixed(3)}  ${(min(ours) / min(bare)).toFixed(3)}  (goal <= 1.05)`);
console.log(`  tessera / qemu-system-i386  ${(median(ours) / median(qemu)).toFixed(2)}  ${(min(ours) / min(qemu)).toFixed(2)}`);
