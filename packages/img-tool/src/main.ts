#!/usr/bin/env node
// tessera-img: qemu-img's command line (info, create, convert, compare) on Tessera's block layer.
import { Host } from '@tessera/core';
import { moduleList } from '#module-list';
import { Console } from './cli/console.ts';
import { runTool } from './cli/program.ts';
import { stopOnSignals } from './cli/stop-signals.ts';

// No top-level await: the executable is built as CommonJS (package.json `bin`), which starts sooner.
async function main(): Promise<void> {
  // The thread pool is sized as the command is known (cli/program.ts), before any file operation.
  const host = new Host(moduleList, { executableUrl: () => import.meta.url });
  const terminal = new Console(moduleList.executable);
  const stop = stopOnSignals();
  const exitCode = await runTool(host, process.argv.slice(2), terminal, stop);
  // Exit explicitly once the output is written: idle keep-alive connections of remote images
  // must not hold the process open.
  await terminal.flush();
  stop.dieIfStopped(); // as qemu-img: killed by the signal (the images are closed by now)
  process.exit(exitCode);
}

void main();
