#!/usr/bin/env node
// Startup of `tessera-img info x.raw` against the floor for any Node program (`node -e 0`) and
// against `qemu-img info`, then again with 50 extra loadable module files installed in the module
// directory. Prints medians and ratios. Every command runs without NODE_EXTRA_CA_CERTS unless
// --keep-env: when set, Node parses that whole certificate bundle at startup (about 90 ms on the
// development machine), which would hide the tool's own startup cost in the ratio.
// Not a test: run it with `npm run bench`.
//   node bench/startup.mjs [--runs N] [--keep-env]
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { builtModulesDir, executableFileName, workspaceRoot } from '../tools/build/paths.mjs';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '40' }, 'keep-env': { type: 'boolean', default: false } } });
const baseEnv = { ...process.env };
if (!values['keep-env']) delete baseEnv.NODE_EXTRA_CA_CERTS;
const runs = Number(values.runs);
const exe = join(workspaceRoot, 'packages/img-tool/dist', executableFileName(join(workspaceRoot, 'packages/img-tool')));
const scratch = mkdtempSync(join(tmpdir(), 'tessera-bench-'));
const image = join(scratch, 'x.raw');
writeFileSync(image, Buffer.alloc(0));
spawnSync('truncate', ['-s', '64M', image]);

// A module directory holding the real modules plus 50 extra loadable module files.
const crowded = join(scratch, 'modules');
mkdirSync(crowded);
const built = builtModulesDir();
for (const file of readdirSync(built)) copyFileSync(join(built, file), join(crowded, file));
const sample = readdirSync(built).find((f) => f.startsWith('block-http')) ?? readdirSync(built)[0];
for (let i = 0; i < 50; i++) copyFileSync(join(built, sample), join(crowded, `block-extra${i}.mjs`));

const cases = [
  { name: 'node -e 0', command: [process.execPath, '-e', '0'] },
  { name: 'tessera-img info x.raw', command: [process.execPath, exe, 'info', image] },
  { name: 'qemu-img info x.raw', command: ['qemu-img', 'info', image] },
  {
    name: 'tessera-img info x.raw, 50 extra modules installed',
    command: [process.execPath, exe, 'info', image],
    env: { TESSERA_MODULE_DIR: crowded },
  },
];

function once({ command, env }) {
  const start = process.hrtime.bigint();
  const result = spawnSync(command[0], command.slice(1), { env: { ...baseEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) throw new Error(`${command.join(' ')} failed: ${result.stderr}`);
  return ms;
}

// Interleave the cases so drift in machine load hits them all alike.
const samples = new Map(cases.map((c) => [c.name, []]));
for (const c of cases) once(c); // warm the page cache
for (let i = 0; i < runs; i++) for (const c of cases) samples.get(c.name).push(once(c));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const m = Object.fromEntries([...samples].map(([name, xs]) => [name, median(xs)]));

const floor = m['node -e 0'];
const ours = m['tessera-img info x.raw'];
const crowdedMs = m['tessera-img info x.raw, 50 extra modules installed'];
console.log(`startup, median of ${runs} runs each (ms):`);
if (process.env.NODE_EXTRA_CA_CERTS !== undefined) {
  console.log(`  (NODE_EXTRA_CA_CERTS is set: ${values['keep-env'] ? 'kept, so every Node start includes parsing it' : 'removed for the runs; --keep-env keeps it'})`);
}
for (const [name, ms] of Object.entries(m)) console.log(`  ${name.padEnd(52)} ${ms.toFixed(1)}`);
console.log('ratios:');
console.log(`  tessera-img info / node -e 0                      ${(ours / floor).toFixed(2)}  (goal <= 1.20)`);
console.log(`  tessera-img info / qemu-img info                  ${(ours / m['qemu-img info x.raw']).toFixed(2)}`);
console.log(`  with 50 extra modules / without                   ${(crowdedMs / ours).toFixed(2)}  (goal: no growth, 1.00)`);
rmSync(scratch, { recursive: true, force: true });
