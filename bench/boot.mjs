#!/usr/bin/env node
// Boot-to-marker time of two guests under tessera, bare v86 (bench/bare-v86.mjs) and Debian's
// qemu-system-i386 (TCG), interleaved in one run (and bare v86 under the V8 tiering tessera sets,
// bare-v86.mjs --liftoff-guest-code, to tell tessera's own cost from that setting's gain):
//   test guest: the test guest's disk image (SeaBIOS -> SYSLINUX -> Linux -> /init's `disk` test),
//     tessera with the disk served through the block layer, bare v86 with the same disk in memory;
//   netboot: Debian 12's installer netboot kernel + initrd (debian-installer-12-netboot-i386) with
//     console=ttyS0, to its first dialog on the serial console (the "<Tab> moves" help line).
// Each is timed the same way, from spawning the process to the marker on its console: wall time,
// and the CPU time (user + sys, all threads) the process used until then, read from
// /proc/PID/stat just before it is killed. The machine may be shared and loaded: CPU time is far
// less disturbed by other work than wall time.
// Not a test: `node bench/boot.mjs [--runs N] [--guest test|netboot|all] [--cases NAME,NAME]
// [--logs DIR]` (--cases: only these columns, e.g. "tessera,bare v86"; --logs: keep each boot's
// console output in DIR)
// (needs tools/guest/build.sh, qemu-system-x86 and debian-installer-12-netboot-i386).
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { workspaceRoot } from '../tools/build/paths.mjs';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    timeout: { type: 'string', default: '400' },
    guest: { type: 'string', default: 'all' },
    // Comma-separated case names to run (e.g. "tessera,bare v86"); default all.
    cases: { type: 'string' },
    // Keep each boot's console output in DIR/<guest>-<case>-<run>.log.
    logs: { type: 'string' },
  },
});
const TESSERA = join(workspaceRoot, 'packages/emulator/dist/tessera.mjs');
const BARE = join(workspaceRoot, 'bench/bare-v86.mjs');
// Bare v86 with the V8 tiering tessera sets (guest code compiled by Liftoff only, see
// packages/emulator/src/machine/wasm-tiering.ts): what of tessera's lead over bare v86 is that
// setting, and whether tessera costs anything on top.
const SAME_FLAGS = 'bare v86 (same V8 flags)';
const NETBOOT = '/usr/lib/debian-installer/images/12/i386/text/debian-installer/i386';
// Clock ticks per second of /proc/PID/stat's utime and stime.
const TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

if (spawnSync('qemu-system-i386', ['-version']).status !== 0) {
  console.error('boot bench: qemu-system-i386 is missing: apt-get install qemu-system-x86');
  process.exit(1);
}
const scratch = mkdtempSync(join(tmpdir(), 'tessera-boot-bench-'));

function testGuest() {
  const guest = Object.fromEntries(
    spawnSync('bash', [join(workspaceRoot, 'tools/guest/build.sh'), '--quiet'], { encoding: 'utf8' })
      .stdout.trim().split('\n').map((line) => line.split('=')),
  );
  if (!guest.disk) throw new Error('tools/guest/build.sh gave no disk image');
  // A fresh copy per boot: the guest writes into its disk.
  const disk = (run) => {
    const copy = join(scratch, `disk-${run}.img`);
    copyFileSync(guest.disk, copy);
    return copy;
  };
  const marker = 'TESSERA-GUEST: poweroff';
  return {
    name: 'test guest (disk image)',
    marker,
    cases: [
      { name: 'tessera', stream: 'stdout', command: (run) => [process.execPath, TESSERA, '-m', '128', '-drive', `file=${disk(run)},format=raw`, '-nographic'] },
      // -machine acpi=on: v86's ACPI and APIC (off by default in tessera and in bare v86).
      { name: 'tessera acpi=on', stream: 'stdout', command: (run) => [process.execPath, TESSERA, '-m', '128', '-drive', `file=${disk(run)},format=raw`, '-nographic', '-machine', 'pc,acpi=on'] },
      { name: 'bare v86', stream: 'stderr', command: (run) => [process.execPath, BARE, '--image', disk(run), '--verbose', '--timeout', values.timeout] },
      { name: SAME_FLAGS, stream: 'stderr', command: (run) => [process.execPath, BARE, '--image', disk(run), '--liftoff-guest-code', '--verbose', '--timeout', values.timeout] },
      { name: 'qemu TCG', stream: 'stdout', command: (run) => ['qemu-system-i386', '-m', '128', '-drive', `file=${disk(run)},format=raw`, '-nographic', '-no-reboot'] },
    ],
  };
}

function netboot() {
  const kernel = join(NETBOOT, 'linux');
  const initrd = join(NETBOOT, 'initrd.gz');
  if (!existsSync(kernel) || !existsSync(initrd)) throw new Error(`${NETBOOT}: no linux/initrd.gz: apt-get install debian-installer-12-netboot-i386`);
  // 512 MiB: below 273 MiB the installer opens with a "Low memory mode" dialog instead.
  const append = 'console=ttyS0';
  const marker = '<Tab> moves';
  const direct = ['-m', '512', '-kernel', kernel, '-initrd', initrd, '-append', append, '-nographic'];
  return {
    name: 'installer netboot (-kernel/-initrd)',
    marker,
    cases: [
      { name: 'tessera', stream: 'stdout', command: () => [process.execPath, TESSERA, ...direct] },
      { name: 'tessera acpi=on', stream: 'stdout', command: () => [process.execPath, TESSERA, ...direct, '-machine', 'pc,acpi=on'] },
      { name: 'bare v86', stream: 'stderr', command: () => [process.execPath, BARE, '--kernel', kernel, '--initrd', initrd, '--append', append, '--memory', '512', '--marker', marker, '--verbose', '--timeout', values.timeout] },
      { name: SAME_FLAGS, stream: 'stderr', command: () => [process.execPath, BARE, '--kernel', kernel, '--initrd', initrd, '--append', append, '--memory', '512', '--marker', marker, '--liftoff-guest-code', '--verbose', '--timeout', values.timeout] },
      { name: 'qemu TCG', stream: 'stdout', command: () => ['qemu-system-i386', ...direct, '-no-reboot'] },
    ],
  };
}

/** user + sys seconds of a live process, all its threads. */
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS; // utime, stime (fields 14 and 15)
}

function bootOnce(guest, c, run) {
  const [file, ...args] = c.command(run);
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let seen = '';
    const log = values.logs ? createWriteStream(join(values.logs, `${guest.marker === '<Tab> moves' ? 'netboot' : 'test'}-${c.name.replace(/\W+/g, '-')}-${run}.log`)) : undefined;
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${guest.name}: ${c.name}: no marker in ${values.timeout} s`)); }, Number(values.timeout) * 1000);
    child[c.stream].setEncoding('utf8').on('data', (text) => {
      log?.write(text);
      seen = (seen + text).slice(-4096);
      if (timer && seen.includes(guest.marker)) {
        const wall = Number(process.hrtime.bigint() - start) / 1e9;
        const cpu = cpuSeconds(child.pid);
        clearTimeout(timer);
        seen = '';
        child.kill('SIGKILL');
        log?.end();
        resolve({ wall, cpu });
      }
    });
  });
}

const guests = [];
if (values.guest === 'all' || values.guest === 'test') guests.push(testGuest());
if (values.guest === 'all' || values.guest === 'netboot') guests.push(netboot());
if (values.cases !== undefined) {
  const wanted = values.cases.split(',');
  for (const guest of guests) guest.cases = guest.cases.filter((c) => wanted.includes(c.name));
}
const runs = Number(values.runs);
const results = new Map(guests.map((g) => [g, new Map(g.cases.map((c) => [c.name, []]))]));
for (let run = 0; run < runs; run++) {
  for (const guest of guests) {
    // Each run starts with a different case: under changing load a fixed order favours the last.
    for (let i = 0; i < guest.cases.length; i++) {
      const c = guest.cases[(run + i) % guest.cases.length];
      const t = await bootOnce(guest, c, run);
      results.get(guest).get(c.name).push(t);
      console.error(`  run ${run + 1}: ${guest.name}: ${c.name}: wall ${t.wall.toFixed(1)} s, cpu ${t.cpu.toFixed(1)} s`);
    }
  }
}
rmSync(scratch, { recursive: true, force: true });

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const spread = (xs) => `${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)}`;
console.log(`boot to marker, ${runs} interleaved runs each: median (min-max) in s; CPU = user+sys of the process`);
for (const guest of guests) {
  const r = results.get(guest);
  console.log(`${guest.name}, to "${guest.marker}":`);
  for (const [name, ts] of r) {
    const wall = ts.map((t) => t.wall);
    const cpu = ts.map((t) => t.cpu);
    console.log(`  ${name.padEnd(24)} wall ${median(wall).toFixed(1)} (${spread(wall)})   cpu ${median(cpu).toFixed(1)} (${spread(cpu)})`);
  }
  const m = (name, key) => median(r.get(name).map((t) => t[key]));
  for (const [mine, other, goal] of [['tessera', 'bare v86', ' (goal <= 1.0)'], ['tessera acpi=on', 'bare v86', ' (ACPI + APIC on)'], ['tessera', SAME_FLAGS, ' (tessera\'s own cost)'], ['tessera', 'qemu TCG', '']]) {
    if (!r.get(mine)?.length || !r.get(other)?.length) continue;
    console.log(`  ${mine} / ${other.padEnd(24)} wall ${(m(mine, 'wall') / m(other, 'wall')).toFixed(3)}   cpu ${(m(mine, 'cpu') / m(other, 'cpu')).toFixed(3)}${goal}`);
  }
}
