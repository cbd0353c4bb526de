#!/usr/bin/env node
// tessera: a PC emulator (v86) with QEMU's command line whose disks go through Tessera's block layer.
import { Host, formatModuleReport } from '@tessera/core';
import { moduleList } from '#module-list';
import { OptionError } from './cli/errors.ts';
import { parseCommandLine } from './cli/parse.ts';
import { USAGE } from './cli/usage.ts';
import type { Command } from './machine/config.ts';

async function main(args: readonly string[]): Promise<number> {
  let command: Command;
  try {
    command = parseCommandLine(args);
  } catch (error) {
    if (!(error instanceof OptionError)) throw error;
    process.stderr.write(`tessera: ${error.where}${error.message}\n`);
    return 1;
  }
  switch (command.kind) {
    case 'help':
      process.stdout.write(USAGE);
      return 0;
    case 'print':
      process.stdout.write(command.text);
      return 0;
    case 'version':
      process.stdout.write(`tessera emulator version ${moduleList.version} (build stamp ${moduleList.stamp})\n`);
      return 0;
    case 'list-modules': {
      const host = new Host(moduleList, { executableUrl: import.meta.url });
      process.stdout.write(formatModuleReport(await host.listModules(), command.output));
      return 0;
    }
    case 'run': {
      // The machine (and v86 with it) loads only now: the informational options stay fast.
      const { runMachine } = await import('./machine/run-machine.ts');
      const { setUpProcess } = await import('./process/process-options.ts');
      const host = new Host(moduleList, { executableUrl: import.meta.url });
      let setup: Awaited<ReturnType<typeof setUpProcess>>;
      try {
        setup = await setUpProcess(command.machine.process, args); // -daemonize, -pidfile, -name process=
      } catch (error) {
        process.stderr.write(`tessera: ${(error as Error).message}\n`);
        return 1;
      }
      if (typeof setup === 'number') return setup; // the -daemonize parent: the child runs the machine
      for (const warning of command.machine.warnings) process.stderr.write(`tessera: ${warning}\n`);
      try {
        return await runMachine(host, command.machine, { onStarted: setup.started });
      } catch (error) {
        process.stderr.write(`tessera: ${(error as Error).message}\n`);
        return 1;
      } finally {
        setup.finish();
      }
    }
  }
}

const code = await main(process.argv.slice(2));
// Exit explicitly: v86's timers, stdin and keep-alive connections of remote images must not hold the process.
await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
process.exit(code);
