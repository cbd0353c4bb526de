#!/usr/bin/env node
// `convert` of tessera-img against qemu-img for any output format, both directions, in one run:
// raw -> FMT (with -o OPTIONS) and FMT -> raw (from the image qemu-img made, so both tools read
// the same bytes). The source looks like a used disk, not half data and half zeroes: data and
// zero runs of 4-64 KiB interleave finely throughout (random lengths, fixed seed), about
// --data-percent of it data, the data itself half random and half text-like (compressible), so a
// format's per-cluster work and its zero detection are both measured.
// As bench/convert.mjs: runs alternate which tool goes first, the page cache is synced before each
// timed run (outside the timing), NODE_EXTRA_CA_CERTS is dropped unless --keep-env, and medians,
// their ratio time(tessera-img)/time(qemu-img) and the fastest runs' ratio are printed. For FMT -> raw
// the Node floor (node-copy-floor.mjs: copy the data extents, nothing else) is printed beside when
// the format stores data uncompressed at offsets qemu-img map reports; compressed formats have none.
// Machine load at the start is printed: above the number of cores, wall-clock ratios are noise.
// Each case starts with one untimed run of each tool (see below).
// Not a test.
// raw -> FMT has a Node floor too: reading the source's data extents (node-copy-floor.mjs writing
// nothing), what any converter must do before its format's work. A fixed-cost line (`info` of the
// image, CPU) shows what start-up and opening cost each tool, which decides ratios at small sizes.
// --halves measures bench/convert.mjs's image instead: the first half random data, the second half
// written zeroes (one long data run, one long zero run). --size takes a list (MiB, e.g. 1024,2048):
// each size is measured in turn, with its own image.
//   node bench/convert-formats.mjs --format vmdk --options subformat=streamOptimized [--size 512[,2048...]] (MiB) [--runs 5] [--data-percent 50] [--halves] [--keep-env] [--exe path]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { executableFileName, workspaceRoot } from '../tools/build/paths.mjs';
import { makeFragmentedImage, makeHalvesImage } from './fragmented-image.mjs';

const { values } = parseArgs({
  options: {
    format: { type: 'string' },
    options: { type: 'string' },
    size: { type: 'string', default: '512' },
    runs: { type: 'string', default: '5' },
    'data-percent': { type: 'string', default: '50' },
    halves: { type: 'boolean', default: false },
    'keep-env': { type: 'boolean', default: false },
    exe: { type: 'string', default: join(workspaceRoot, 'packages/img-tool/dist', executableFileName(join(workspaceRoot, 'packages/img-tool'))) },
  },
});
if (!values.format) throw new Error('usage: node bench/convert-formats.mjs --format FMT [--options k=v,...] [--size MiB] [--runs N]');
const format = values.format;
const formatOptions = values.options ? ['-o', values.options] : [];
const sizes = values.size.split(',').map((mib) => Number(mib) * 2 ** 20);
const runs = Number(values.runs);
const dataShare = Number(values['data-percent']) / 100;
const scratch = mkdtempSync(join(tmpdir(), 'tessera-bench-formats-'));
const env = { ...process.env };
if (!values['keep-env']) delete env.NODE_EXTRA_CA_CERTS;

// CPU time (user + system) of each run too, through GNU time when installed: on a machine shared
// with other work the wall-clock ratio swings with the load, the CPU ratio much less.
const gnuTime = spawnSync('/usr/bin/time', ['-f', '%U', 'true']).status === 0;
const cpu = [];
/** User CPU alone: the tool's own work. System time is mostly the kernel's page-cache copies, the same I/O for both tools, and in a VM that hands freed memory back to its host (free page reporting) it swings several-fold from run to run. */
const user = [];

function run(command) {
  spawnSync('sync');
  const timed = gnuTime ? ['/usr/bin/time', '-f', 'cpu %U %S', ...command] : command;
  const start = process.hrtime.bigint();
  const result = spawnSync(timed[0], timed.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) throw new Error(`${command.join(' ')} failed (${result.status}): ${result.stderr}`);
  const times = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(String(result.stderr));
  cpu.push(times ? (Number(times[1]) + Number(times[2])) * 1000 : NaN);
  user.push(times ? Number(times[1]) * 1000 : NaN);
  return ms;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const tools = {
  'tessera-img': (args) => [process.execPath, values.exe, ...args],
  'qemu-img': (args) => ['qemu-img', ...args],
};
const floorScript = join(workspaceRoot, 'bench/node-copy-floor.mjs');

/** Extents of `image` as `qemu-img map` reports them, written to `file`; whether every data extent lies at a known offset of the image file itself. */
function mapTo(image, file, format) {
  const map = JSON.parse(spawnSync('qemu-img', ['map', '--output=json', '-f', format, image], { encoding: 'utf8' }).stdout);
  writeFileSync(file, JSON.stringify(map));
  return map.every((e) => !e.data || (e.offset !== undefined && (e.filename === undefined || e.filename === image)));
}

async function measure(size) {
  const raw = join(scratch, 'source.raw');
  const image = join(scratch, `source.${format}`);
  rmSync(image, { force: true });
  if (values.halves) makeHalvesImage(raw, size);
  else makeFragmentedImage(raw, size, dataShare);
  run(['qemu-img', 'convert', '-O', format, ...formatOptions, raw, image]);
  const out = (name) => join(scratch, name);
  const floorPossible = mapTo(image, out('extents.json'), format);
  mapTo(raw, out('raw-extents.json'), 'raw');
  const cases = [
    { name: `raw -> ${format}`, args: ['convert', '-O', format, ...formatOptions, raw, out(`out.${format}`)], floor: [raw, out('raw-extents.json'), '-', String(size)] },
    { name: `${format} -> raw`, args: ['convert', '-O', 'raw', image, out('out.raw')], floor: floorPossible ? [image, out('extents.json'), out('out.raw'), String(size)] : undefined },
  ];
  const shape = values.halves ? 'half random data, half zeroes' : `data and zero runs of 4-64 KiB interleaved (${values['data-percent']}% data)`;
  const { loadavg, availableParallelism } = await import('node:os');
  console.log(`convert of a ${size / 2 ** 20} MiB image, ${shape}, ${format}${values.options ? ` -o ${values.options}` : ''}; median ms`);
  console.log(`  (load average ${loadavg()[0].toFixed(1)} on ${availableParallelism()} cores)`);
  if (!floorPossible) console.log(`  (no Node floor for ${format} -> raw: its data is not stored at plain offsets, e.g. compressed)`);
  console.log(`  ${'case'.padEnd(18)} ${'tessera-img'.padStart(11)} ${'qemu-img'.padStart(9)}  ratio (goal <= 1.00)  fastest runs' ratio`);
  for (const c of cases) {
    const samples = { 'tessera-img': [], 'qemu-img': [], floor: [] };
    const cpuSamples = { 'tessera-img': [], 'qemu-img': [], floor: [] };
    const userSamples = { 'tessera-img': [], 'qemu-img': [], floor: [] };
    const command = (tool) => (tool === 'floor' ? [process.execPath, floorScript, ...c.floor] : tools[tool](c.args));
    // One untimed run of each tool first. In this VM, a run's writes into the page cache were
    // at times up to 7x slower in the kernel's copy (perf: copy_folio_from_iter_atomic), for
    // either tool and most often on a case's first run. The cause is the VM's free page
    // reporting (virtio-balloon, 2 MiB blocks): memory freed (the previous output deleted) is
    // handed back to the host within seconds, and the next run faults it back in. Writing 4 GiB
    // took 0.9 s right after freeing and 5-6 s six seconds later, the same program. The
    // warm-up spares the timed runs the coldest start; the user CPU row shows the tools' own work.
    for (const tool of ['tessera-img', 'qemu-img']) {
      rmSync(c.args.at(-1), { force: true });
      run(command(tool));
    }
    for (let i = 0; i < runs; i++) {
      // The floor first: the last output, checked below, must be a tool's.
      const order = ['tessera-img', 'qemu-img'];
      if (i % 2 === 1) order.reverse();
      if (c.floor) order.unshift('floor');
      for (const tool of order) {
        rmSync(c.args.at(-1), { force: true });
        samples[tool].push(run(command(tool)));
        cpuSamples[tool].push(cpu.at(-1));
        userSamples[tool].push(user.at(-1));
      }
    }
    // The last output (of whichever tool went last) must hold the source's bytes.
    const same = spawnSync('qemu-img', ['compare', raw, c.args.at(-1)], { encoding: 'utf8' });
    if (same.status !== 0) throw new Error(`${c.name}: the output differs from the source: ${same.stdout}${same.stderr}`);
    const ours = median(samples['tessera-img']);
    const theirs = median(samples['qemu-img']);
    const fastest = Math.min(...samples['tessera-img']) / Math.min(...samples['qemu-img']);
    const outSize = statSync(c.args.at(-1)).size;
    console.log(`  ${c.name.padEnd(18)} ${ours.toFixed(0).padStart(11)} ${theirs.toFixed(0).padStart(9)}  ${(ours / theirs).toFixed(2).padEnd(20)}  ${fastest.toFixed(2)}   (last output ${outSize} bytes)`);
    const oursCpu = median(cpuSamples['tessera-img']);
    const theirsCpu = median(cpuSamples['qemu-img']);
    if (gnuTime) console.log(`  ${'  CPU (user+sys)'.padEnd(18)} ${oursCpu.toFixed(0).padStart(11)} ${theirsCpu.toFixed(0).padStart(9)}  ${(oursCpu / theirsCpu).toFixed(2)}`);
    if (gnuTime) {
      const [oursUser, theirsUser] = ['tessera-img', 'qemu-img'].map((tool) => median(userSamples[tool]));
      const sys = (tool) => cpuSamples[tool].map((total, i) => total - userSamples[tool][i]);
      const spread = (tool) => `${Math.min(...sys(tool)).toFixed(0)}-${Math.max(...sys(tool)).toFixed(0)}`;
      console.log(`  ${'  user CPU'.padEnd(18)} ${oursUser.toFixed(0).padStart(11)} ${theirsUser.toFixed(0).padStart(9)}  ${(oursUser / theirsUser).toFixed(2).padEnd(20)}  (sys ms, fastest-slowest run: ${spread('tessera-img')} / ${spread('qemu-img')})`);
    }
    if (c.floor) {
      const floor = median(samples.floor);
      const floorFastest = Math.min(...samples.floor) / Math.min(...samples['qemu-img']);
      const what = c.floor[2] === '-' ? 'reads the data extents, writes nothing' : 'copies the data extents, nothing else';
      console.log(`  ${'  Node floor'.padEnd(18)} ${floor.toFixed(0).padStart(11)} ${theirs.toFixed(0).padStart(9)}  ${(floor / theirs).toFixed(2).padEnd(20)}  ${floorFastest.toFixed(2)}   (node-copy-floor.mjs: ${what})`);
      if (gnuTime) console.log(`  ${'  floor CPU'.padEnd(18)} ${median(cpuSamples.floor).toFixed(0).padStart(11)} ${theirsCpu.toFixed(0).padStart(9)}  ${(median(cpuSamples.floor) / theirsCpu).toFixed(2)}`);
    }
  }
  // Fixed cost: start-up and opening the image, no data moved.
  const info = { 'tessera-img': [], 'qemu-img': [], floor: [] };
  for (let i = 0; i < runs; i++) {
    const order = ['tessera-img', 'qemu-img', 'floor'];
    if (i % 2 === 1) order.reverse();
    for (const tool of order) {
      run(tool === 'floor' ? [process.execPath, '-e', ''] : tools[tool](['info', image]));
      info[tool].push(cpu.at(-1));
    }
  }
  const [oursInfo, theirsInfo, nodeInfo] = ['tessera-img', 'qemu-img', 'floor'].map((tool) => median(info[tool]));
  console.log(`  ${'info (fixed cost)'.padEnd(18)} ${oursInfo.toFixed(0).padStart(11)} ${theirsInfo.toFixed(0).padStart(9)}  ${(oursInfo / theirsInfo).toFixed(2).padEnd(20)}  CPU ms; \`node -e ''\` alone: ${nodeInfo.toFixed(0)}`);
}

try {
  for (const size of sizes) await measure(size);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
