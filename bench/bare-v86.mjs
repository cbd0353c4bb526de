#!/usr/bin/env node
// Boot time of the test guest's disk image on bare v86 (no tessera code): SeaBIOS -> SYSLINUX ->
// Linux -> /init running the `disk` test, with the whole image in memory (`hda: {buffer}`), measured
// from `new V86()` to the guest's final serial marker. The floor that tessera's emulator is compared
// against. Not a test: run it by hand. On purpose bare: v86's own v86.wasm as published, without
// the CPU fixes tessera applies to it in memory at load (packages/emulator/src/machine/
// v86-wasm-patch.ts: one changed byte in the PAE page walk, which this guest never takes).
//
//   node bench/bare-v86.mjs [--v86 DIR] [--image disk.img] [--runs N] [--memory MiB] [--verbose]
//
//   --v86 DIR      the v86 npm package directory (env V86_DIR); default: `v86` as resolved from here
//   --image FILE   raw disk image (env TESSERA_GUEST_DISK); default: .cache/guest/current/disk.img,
//                  made by tools/guest/build.sh. It is read once and copied for every run: the
//                  guest writes guest.txt into the in-memory copy, never into the file.
//   --kernel FILE, --initrd FILE, --append TEXT   boot a Linux kernel directly (as qemu's -kernel);
//                  with --kernel and no --image, no disk is attached
//   --bios FILE, --vga-bios FILE   default Debian's seabios: /usr/share/seabios/{bios,vgabios-stdvga}.bin
//   --marker TEXT  the serial line that ends a run (default "TESSERA-GUEST: poweroff")
//   --runs N       boots in a row, each in a fresh emulator (default 1); prints each and the median
//   --timeout S    per boot (default 180)
//   --liftoff-guest-code   V8 tiering as tessera sets it (packages/emulator/src/machine/wasm-tiering.ts):
//                  once v86's CPU module is compiled, later wasm (the guest code v86 compiles) is
//                  compiled by Liftoff only (--liftoff-only); the CPU module keeps TurboFan
//   --verbose      copy the guest's serial console to stderr
//   --json         one JSON object on stdout instead of text
import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values: opt } = parseArgs({
  options: {
    v86: { type: 'string', default: process.env.V86_DIR },
    image: { type: 'string', default: process.env.TESSERA_GUEST_DISK ?? join(repoRoot, '.cache/guest/current/disk.img') },
    kernel: { type: 'string' },
    initrd: { type: 'string' },
    append: { type: 'string' },
    bios: { type: 'string', default: '/usr/share/seabios/bios.bin' },
    'vga-bios': { type: 'string', default: '/usr/share/seabios/vgabios-stdvga.bin' },
    marker: { type: 'string', default: 'TESSERA-GUEST: poweroff' },
    memory: { type: 'string', default: '128' },
    runs: { type: 'string', default: '1' },
    timeout: { type: 'string', default: '180' },
    verbose: { type: 'boolean', default: false },
    'liftoff-guest-code': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opt.help) {
  const text = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 23);
  console.log(text.map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
  process.exit(0);
}

function fail(message) {
  console.error(`bare-v86: ${message}`);
  process.exit(1);
}

function v86Dir() {
  if (opt.v86) return resolve(opt.v86);
  try {
    return dirname(createRequire(import.meta.url).resolve('v86/package.json'));
  } catch {
    return fail('cannot resolve the v86 package from the repository; pass --v86 DIR (or V86_DIR), e.g. a scratch `npm i v86@0.5.462`');
  }
}

function arrayBuffer(file) {
  if (!existsSync(file)) fail(`${file}: not found`);
  const data = readFileSync(file);
  return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
}

const dir = v86Dir();
const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
const entry = join(dir, pkg.module ?? pkg.main ?? 'build/libv86.mjs');
const wasmPath = join(dir, 'build/v86.wasm');
if (!existsSync(entry) || !existsSync(wasmPath)) fail(`${dir} does not look like the v86 package (no ${entry} or ${wasmPath})`);
const { V86 } = await import(pathToFileURL(entry).href);

// -kernel without a disk (the installer's netboot): no image unless one was named.
const imageNamed = process.argv.includes('--image') || process.env.TESSERA_GUEST_DISK !== undefined;
const useImage = opt.kernel === undefined || imageNamed;
if (useImage && !existsSync(opt.image)) fail(`${opt.image}: not found (make it with tools/guest/build.sh, or pass --image)`);
const image = useImage ? readFileSync(opt.image) : undefined;
const kernel = opt.kernel !== undefined ? arrayBuffer(opt.kernel) : undefined;
const initrd = opt.initrd !== undefined ? arrayBuffer(opt.initrd) : undefined;
const bios = arrayBuffer(opt.bios);
const vgaBios = arrayBuffer(opt['vga-bios']);
const memoryMiB = Number(opt.memory);
const runs = Number(opt.runs);
const timeoutMs = Number(opt.timeout) * 1000;

// --liftoff-guest-code: v86's CPU compiled with V8's default tiering, everything after it by Liftoff only.
async function liftoffAfterCpu(imports) {
  const { instance } = await WebAssembly.instantiate(readFileSync(wasmPath), imports);
  process.getBuiltinModule('node:v8').setFlagsFromString('--liftoff-only');
  return instance.exports;
}

// One boot: resolves with the times (ms since `new V86`) of the markers seen, or rejects.
function boot() {
  // The guest writes into this buffer: give every boot its own copy of the image.
  const disk = image ? new ArrayBuffer(image.byteLength) : undefined;
  if (image) new Uint8Array(disk).set(image);
  return new Promise((resolveBoot, rejectBoot) => {
    const marks = {};
    let line = '';
    let done = false;
    const t0 = performance.now();
    const emulator = new V86({
      wasm_path: wasmPath,
      ...(opt['liftoff-guest-code'] ? { wasm_fn: liftoffAfterCpu } : {}),
      bios: { buffer: bios },
      vga_bios: { buffer: vgaBios },
      ...(disk ? { hda: { buffer: disk } } : {}),
      ...(kernel ? { bzimage: { buffer: kernel } } : {}),
      ...(initrd ? { initrd: { buffer: initrd } } : {}),
      ...(opt.append !== undefined ? { cmdline: opt.append } : {}),
      memory_size: memoryMiB * 1024 * 1024,
      autostart: true,
      disable_speaker: true,
      disable_mouse: true,
    });
    const finish = async (error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      // No ACPI power-off in v86: the halted guest keeps the emulator alive until destroyed.
      await emulator.destroy();
      // The guest's writes go into `disk`: look for what the disk test writes in guest.txt.
      marks.guestWrote = disk !== undefined && Buffer.from(disk).includes('tessera-guest-wrote-this');
      if (error) rejectBoot(error);
      else resolveBoot(marks);
    };
    const timer = setTimeout(() => finish(new Error(`no "${opt.marker}" within ${opt.timeout} s; last markers: ${JSON.stringify(marks)}`)), timeoutMs);
    let recent = '';
    emulator.add_listener('serial0-output-byte', (byte) => {
      const c = String.fromCharCode(byte);
      // A marker on a full-screen console (the installer's first dialog) may never end its line.
      recent = (recent + c).slice(-256);
      if (!done && recent.includes(opt.marker)) {
        marks.end = Math.round(performance.now() - t0);
        if (opt.verbose) process.stderr.write(`[${(marks.end / 1000).toFixed(2)}] ${opt.marker}\n`);
        finish();
        return;
      }
      if (c !== '\n') {
        line += c;
        return;
      }
      const text = line.replace(/\r/g, '');
      line = '';
      const ms = Math.round(performance.now() - t0);
      if (opt.verbose) process.stderr.write(`[${(ms / 1000).toFixed(2)}] ${text}\n`);
      if (text.startsWith('SYSLINUX') && marks.syslinux === undefined) marks.syslinux = ms;
      const m = /^TESSERA-GUEST: (booted|modules loaded|disk done|host\.txt=.*|error .*|poweroff)$/.exec(text);
      if (m && marks[m[1]] === undefined) marks[m[1]] = ms;
      if (text.startsWith('TESSERA-GUEST: error')) finish(new Error(`guest: ${text}`));

    });
  });
}

const results = [];
for (let i = 0; i < runs; i++) {
  let marks;
  try {
    marks = await boot();
  } catch (error) {
    fail(error.message);
  }
  results.push(marks);
  if (!opt.json) {
    const parts = ['syslinux', 'booted', 'modules loaded', 'disk done'].filter((k) => marks[k] !== undefined).map((k) => `${k} ${marks[k]} ms`);
    console.log(`run ${i + 1}/${runs}: ${opt.marker} after ${marks.end} ms (${parts.join(', ')})`);
    if (marks['disk done'] !== undefined && !Object.keys(marks).some((k) => k.startsWith('host.txt='))) {
      console.log('  warning: the guest did not report host.txt');
    }
    if (marks['disk done'] !== undefined && !marks.guestWrote) console.log('  warning: guest.txt not found in the disk buffer');
  }
}
const sorted = results.map((r) => r.end).sort((a, b) => a - b);
const median = sorted[Math.floor((sorted.length - 1) / 2)];
if (opt.json) {
  console.log(JSON.stringify({ v86: pkg.version, image: opt.image, memoryMiB, marker: opt.marker, runs: results, medianMs: median, minMs: sorted[0] }));
} else {
  // The minimum is the least disturbed by other load on the machine (v86 uses more than one core).
  console.log(`bare v86 ${pkg.version}, ${opt.image}: boot to "${opt.marker}" median ${median} ms, min ${sorted[0]} ms over ${runs} run(s)`);
}
process.exit(0);
