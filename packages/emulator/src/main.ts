#!/usr/bin/env node
// tessera: the emulator. Its machine comes with the emulator issue; this build has the module
// system (block, ui and net modules on its own list) and the informational options.
import { Host, formatModuleReport } from '@tessera/core';
import { moduleList } from '#module-list';

const USAGE = `usage: tessera [options]

Options available in this build:
  --list-modules [--output=human|json]
                 list the modules this executable may load, with their status
  -version       print the version and exit
  -help, -h      print this help and exit
`;

async function main(args: readonly string[]): Promise<number> {
  const [first] = args;
  if (first === '--list-modules' || first === '-list-modules') {
    const output = args.slice(1).find((a) => a.startsWith('--output=') || a.startsWith('-output='))?.split('=')[1] ?? 'human';
    if (output !== 'human' && output !== 'json') {
      process.stderr.write(`tessera: --output: '${output}' is not a valid output format (human or json)\n`);
      return 1;
    }
    const host = new Host(moduleList, { executableUrl: import.meta.url });
    process.stdout.write(formatModuleReport(await host.listModules(), output));
    return 0;
  }
  if (first === '-version' || first === '--version') {
    process.stdout.write(`tessera emulator version ${moduleList.version} (build stamp ${moduleList.stamp})\n`);
    return 0;
  }
  if (first === '-help' || first === '--help' || first === '-h') {
    process.stdout.write(USAGE);
    return 0;
  }
  process.stderr.write(
    first === undefined
      ? 'tessera: no machine in this build yet; see -help\n'
      : `tessera: ${first}: the PC machine is not part of this build yet (only --list-modules, -version and -help)\n`,
  );
  return 1;
}

process.exitCode = await main(process.argv.slice(2));
