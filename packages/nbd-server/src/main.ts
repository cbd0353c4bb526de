#!/usr/bin/env node
// tessera-nbd: qemu-nbd's command line on Tessera's block layer: exports one image over NBD.
import { Host, sizeThreadPool } from '@tessera/core';
import { moduleList } from '#module-list';
import { runServer } from './cli/program.ts';

// No top-level await: the executable is built as CommonJS (package.json `bin`), so that no file is
// read asynchronously before this runs and libuv's pool starts with the size it sets (an ES module
// executable's loader starts the pool with libuv's default of four threads).
async function main(): Promise<void> {
  sizeThreadPool();
  const host = new Host(moduleList, { executableUrl: () => import.meta.url });
  process.exitCode = await runServer(host, process.argv.slice(2));
}

void main();
