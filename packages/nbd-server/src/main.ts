#!/usr/bin/env node
// tessera-nbd: qemu-nbd's command line on Tessera's block layer: exports one image over NBD.
import { Host } from '@tessera/core';
import { moduleList } from '#module-list';
import { runServer } from './cli/program.ts';

async function main(): Promise<void> {
  const host = new Host(moduleList, { executableUrl: import.meta.url });
  process.exitCode = await runServer(host, process.argv.slice(2));
}

void main();
