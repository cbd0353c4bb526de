// Runs an executable's program on a small workload, in this process, then writes V8's code cache
// of it: the cache then holds every function that workload compiled, not only the top level.
//   node code-cache-warm-up.cjs PROGRAM CACHE RUNS   (run in the workload's directory)
// RUNS is a JSON array of the program's argument lists: the program runs once for each, one after
// the other (the same compiled script, so the cache holds what all of them compiled). A run ends
// at the program's process.exit; after the last one the cache is written and the process exits.
// The program's tier-up tuning (node:v8's setFlagsFromString) is left out here: V8 refuses a cache
// made under other flags.
'use strict';
const { readFileSync, writeFileSync } = require('node:fs');
const { dirname } = require('node:path');
const { Script } = require('node:vm');
const { PREFIX, SUFFIX } = require('./program-wrapper.cjs');

const [program, cache, runsJson] = process.argv.slice(2);
let runs;
try {
  runs = JSON.parse(runsJson);
} catch {}
if (!program || !cache || !Array.isArray(runs) || runs.length === 0) {
  process.stderr.write('usage: node code-cache-warm-up.cjs PROGRAM CACHE RUNS (a JSON array of argument lists)\n');
  process.exit(2);
}
const script = new Script(PREFIX + readFileSync(program, 'utf8') + SUFFIX, { filename: program });
const exit = process.exit.bind(process);
const importModule = (specifier) => import(specifier);
// Node hands every require of a builtin the same object.
require('node:v8').setFlagsFromString = () => {};

let next = 0;
function runNext() {
  process.argv = [process.argv[0], program, ...runs[next++]];
  script.runInThisContext()(module.exports, require, module, program, dirname(program), importModule);
}
process.exit = (code) => {
  if (code !== 0 && code !== undefined) {
    process.stderr.write(`code-cache warm-up: the program exited with ${code} (arguments ${JSON.stringify(process.argv.slice(2))}); no cache written\n`);
    exit(code);
  }
  if (next < runs.length) {
    // The run that called exit has nothing left to do but return: start the next one after it.
    setImmediate(runNext);
    return undefined;
  }
  writeFileSync(cache, script.createCachedData());
  exit(0);
};
runNext();
