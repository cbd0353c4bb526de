// A CommonJS executable as a small launcher plus its program and V8's code cache of that program.
//
// V8 compiles a script's top level and every function it calls at every start: for tessera-img
// (a 170 KB program) that is 10-20 ms of each run, more than anything else it does for a quick
// command. A code cache made at build time lets V8 skip that work. The build leaves:
//   tessera-img.cjs                  the launcher (the `bin`): reads the program and the cache,
//                                    compiles the one with the other, runs it
//   tessera-img.<digest>.cjs         the program the bundler made
//   tessera-img.<digest>.code-cache  V8's cache of it, made by running a small workload
// <digest> is the program's SHA-256 (first 16 hex digits), compiled into the launcher: a launcher
// only ever runs the program (and cache) of its own build. V8 checks the cache against its own
// version and flags and the source's length; where it refuses one (another Node, other V8 flags)
// or the cache file is missing, the program is compiled as usual.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAst } from 'vite';

const require = createRequire(import.meta.url);
const { IMPORT, PREFIX, SUFFIX } = require('./program-wrapper.cjs');
const warmUpScript = fileURLToPath(new URL('./code-cache-warm-up.cjs', import.meta.url));

/**
 * The launcher's source: everything it needs is inlined, as it runs from an installed copy.
 * `commandCaches`: `[[commands], cache file]` pairs; any other command (or none) gets `cacheFile`.
 */
function launcherSource(name, programFile, cacheFile, commandCaches) {
  const choice = commandCaches.length
    ? `// Each command gets the cache made from a workload like its own (a smaller cache is read and
// taken in faster); the command is the first argument not an option. A wrong guess costs only time.
const command = process.argv.slice(2).find((arg) => !arg.startsWith('-'));
const cacheFile = ${JSON.stringify(commandCaches)}.find(([commands]) => commands.includes(command))?.[1] ?? ${JSON.stringify(cacheFile)};`
    : `const cacheFile = ${JSON.stringify(cacheFile)};`;
  return `#!/usr/bin/env node
// ${name}'s launcher, made by the build (tools/build/code-cache.mjs). It runs the program
// ${programFile} with the V8 code cache made for it at build time, so that V8
// need not compile the program at every start.
'use strict';
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const { Script } = require('node:vm');
const program = join(__dirname, ${JSON.stringify(programFile)});
let source;
try {
  source = readFileSync(program, 'utf8');
} catch (error) {
  process.stderr.write(\`${name}: cannot read its program \${program} (\${error.code ?? error.message}); reinstall ${name}\\n\`);
  process.exit(1);
}
${choice}
let cachedData;
try {
  cachedData = readFileSync(join(__dirname, cacheFile));
} catch {
  // No cache: V8 compiles the program as it would any file.
}
const script = new Script(${JSON.stringify(PREFIX)} + source + ${JSON.stringify(SUFFIX)}, { filename: program, cachedData });
if (process.env.TESSERA_REPORT_CODE_CACHE) {
  process.stderr.write(\`code cache: \${cachedData === undefined ? 'missing' : script.cachedDataRejected ? 'refused' : 'used'}\\n\`);
}
// The program's import() (see tools/build/program-wrapper.cjs).
const importModule = (specifier) => import(specifier);
script.runInThisContext()(exports, require, module, program, __dirname, importModule);
`;
}

/** `code` with every import(...) made a call of IMPORT. */
function rewriteDynamicImports(code) {
  if (code.includes(IMPORT)) throw new Error(`the program already uses the name ${IMPORT}`);
  const starts = [];
  const visit = (node) => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!node || typeof node !== 'object') return;
    if (node.type === 'ImportExpression') starts.push(node.start);
    for (const key of Object.keys(node)) if (key !== 'type') visit(node[key]);
  };
  visit(parseAst(code));
  let out = code;
  for (const start of starts.sort((a, b) => b - a)) {
    if (out.slice(start, start + 6) !== 'import') throw new Error(`no import( at ${start} of the program`);
    out = `${out.slice(0, start)}${IMPORT}${out.slice(start + 6)}`;
  }
  return out;
}

/**
 * Run the program on a workload in a scratch directory and write V8's cache of it to `cacheFile`.
 * `warmUp(dir)` sets up the workload's files and returns the program's arguments, or
 * `{ prepare, runs }`: `runs`, argument lists the program runs one after the other in the process
 * that makes the cache (which then holds what all of them compiled); `prepare`, runs that make
 * more files first, each in a process of its own, so that their code stays out of the cache.
 */
function makeCache(dir, programFile, cacheFile, warmUp, stem) {
  const scratch = mkdtempSync(join(tmpdir(), 'tessera-code-cache-'));
  try {
    const workload = warmUp(scratch);
    const { prepare = [], runs } = Array.isArray(workload) ? { runs: [workload] } : workload;
    const env = { ...process.env };
    delete env.TESSERA_MODULE_DIR;
    delete env.NODE_OPTIONS; // V8 flags would go into the cache's flag hash
    const run = (runList, cache) => {
      const result = spawnSync(process.execPath, [warmUpScript, join(dir, programFile), cache, JSON.stringify(runList)], { cwd: scratch, env, encoding: 'utf8' });
      if (result.status !== 0) {
        throw new Error(`code cache warm-up (${stem} ${JSON.stringify(runList)}) failed with ${result.status}: ${result.stderr}`);
      }
    };
    for (const args of prepare) run([args], join(scratch, 'prepare.code-cache'));
    run(runs, join(dir, cacheFile));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * Vite plugin: after the bundle `fileName` is written, move it to its digest-named program file,
 * make its code cache by running `warmUp` (see makeCache), and write the launcher in its place.
 * `commandWarmUps`: `[{ name, commands, warmUp }]`, a cache of its own (`<stem>.<digest>.<name>.code-cache`)
 * for the commands named, made from a workload like theirs; every other command gets `warmUp`'s.
 */
export function codeCachedLauncher({ fileName, warmUp, commandWarmUps = [] }) {
  return {
    name: 'tessera-code-cached-launcher',
    writeBundle(options) {
      const dir = options.dir;
      const built = readFileSync(join(dir, fileName), 'utf8');
      // The program is compiled inside a function: a hashbang is only valid at a file's start.
      const program = rewriteDynamicImports(built.startsWith('#!') ? built.slice(built.indexOf('\n') + 1) : built);
      const digest = createHash('sha256').update(program).digest('hex').slice(0, 16);
      const stem = basename(fileName, '.cjs');
      const programFile = `${stem}.${digest}.cjs`;
      const cacheFile = `${stem}.${digest}.code-cache`;
      writeFileSync(join(dir, programFile), program);

      makeCache(dir, programFile, cacheFile, warmUp, stem);
      const commandCaches = [];
      for (const { name, commands, warmUp: commandWarmUp } of commandWarmUps) {
        const file = `${stem}.${digest}.${name}.code-cache`;
        makeCache(dir, programFile, file, commandWarmUp, stem);
        commandCaches.push([commands, file]);
      }

      writeFileSync(join(dir, fileName), launcherSource(stem, programFile, cacheFile, commandCaches));
      chmodSync(join(dir, fileName), 0o755);
    },
  };
}
