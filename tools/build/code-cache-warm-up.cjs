// Runs an executable's program once, in this process, on a small workload, then writes V8's code
// cache of it: the cache then holds every function that workload compiled, not only the top level.
//   node code-cache-warm-up.cjs PROGRAM CACHE -- ARGS...   (run in the workload's directory)
// The program's process.exit writes the cache and exits. Its tier-up tuning (node:v8's
// setFlagsFromString) is left out here: V8 refuses a cache made under other flags.
'use strict';
const { readFileSync, writeFileSync } = require('node:fs');
const { dirname } = require('node:path');
const { Script } = require('node:vm');
const { PREFIX, SUFFIX } = require('./program-wrapper.cjs');

const [program, cache, separator, ...args] = process.argv.slice(2);
if (!program || !cache || separator !== '--') {
  process.stderr.write('usage: node code-cache-warm-up.cjs PROGRAM CACHE -- ARGS...\n');
  process.exit(2);
}
const script = new Script(PREFIX + readFileSync(program, 'utf8') + SUFFIX, { filename: program });
const exit = process.exit.bind(process);
process.exit = (code) => {
  if (code === 0 || code === undefined) writeFileSync(cache, script.createCachedData());
  else process.stderr.write(`code-cache warm-up: the program exited with ${code}; no cache written\n`);
  exit(code);
};
// Node hands every require of a builtin the same object.
require('node:v8').setFlagsFromString = () => {};
process.argv = [process.argv[0], program, ...args];
const importModule = (specifier) => import(specifier);
script.runInThisContext()(module.exports, require, module, program, dirname(program), importModule);
