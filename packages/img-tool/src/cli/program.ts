import { formatModuleReport, type Host } from '@tessera/core';
import { commands, findCommand } from '../commands/index.ts';
import type { CommandContext } from '../commands/types.ts';
import { formatNames, protocolNames } from '../image/drivers.ts';
import type { Console } from './console.ts';
import { ToolError, UsageError } from './errors.ts';
import { StoppedError, type StopOnSignals } from './stop-signals.ts';
import { getopt, type OptionSpec } from './getopt.ts';
import { raiseTierUpBudget } from './jit-tiering.ts';
import { sizeThreadPool } from './thread-pool.ts';
import { helpText, versionText } from './help.ts';
import { parseOutputFormat } from './values.ts';
import { defineObjects } from '../objects/define.ts';

/** Options before the command name; option parsing stops at the command, like qemu-img's. */
const TOP_LEVEL: OptionSpec = {
  short: '+:hVT:',
  stopAtOperand: true,
  long: [
    { name: 'help', hasArg: false, key: 'h' },
    { name: 'version', hasArg: false, key: 'V' },
    { name: 'trace', hasArg: true, key: 'T' },
    { name: 'list-modules', hasArg: false },
    { name: 'output', hasArg: true },
  ],
};

/** Commands that only read an image's metadata: a small thread pool (thread-pool.ts). */
const METADATA_COMMANDS = new Set(['info', 'map', 'measure']);

/** Commands that may write an image: a signal lets them finish their step and close it (stop-signals.ts). */
const WRITING_COMMANDS = new Set(['amend', 'check', 'commit', 'convert', 'create', 'rebase', 'resize', 'snapshot']);

/** Run the tool on its command-line arguments; resolves to the exit code. Never rejects. */
export async function runTool(host: Host, argv: readonly string[], console: Console, stop?: StopOnSignals): Promise<number> {
  try {
    return await dispatch(host, argv, console, stop);
  } catch (error) {
    if (error instanceof StoppedError) return 1; // no message: the process dies by the signal
    return console.report(error);
  }
}

async function dispatch(host: Host, argv: readonly string[], console: Console, stop: StopOnSignals | undefined): Promise<number> {
  const help = (): number => {
    // A `proto+transport` scheme (nbd+unix) is one driver's transport: qemu-img lists the driver once.
    const protocols = protocolNames(host.list).map((scheme) => scheme.split('+')[0]!);
    const drivers = [...new Set([...formatNames(host.list), ...protocols])].sort();
    console.out(helpText(host.list, commands, drivers));
    return 0;
  };
  const top = getopt(argv, TOP_LEVEL);
  // Before any file is read: libuv sizes its pool at the first file operation (--list-modules reads).
  sizeThreadPool(top.operands.length === 0 || METADATA_COMMANDS.has(top.operands[0]!));
  let listModules = false;
  let output: string | undefined;
  for (const option of top.options) {
    switch (option.key) {
      case 'h':
        return help();
      case 'V':
        console.out(versionText(host.list));
        return 0;
      case 'T':
        throw new ToolError('tracing (-T/--trace) is not supported');
      case 'list-modules':
        listModules = true;
        break;
      case 'output':
        output = option.value;
        break;
    }
  }
  if (listModules) {
    if (top.operands.length > 0) throw new UsageError(`Unexpected argument: ${top.operands[0]}`);
    console.out(formatModuleReport(await host.listModules(), parseOutputFormat(output)));
    return 0;
  }
  if (output !== undefined) throw new UsageError('--output before the command is only valid with --list-modules');

  const [name, ...rest] = top.operands;
  if (name === undefined) throw new UsageError('Not enough arguments');
  const command = findCommand(name);
  if (!command) throw new UsageError(`Command not found: ${name}`);
  if (command.lastWordIsOperand && rest.length < 2) throw new UsageError('Not enough arguments');
  const tail = command.lastWordIsOperand ? rest.splice(-1) : [];
  const parsed = getopt(rest, command.options);
  const args = tail.length ? { ...parsed, operands: [...parsed.operands, ...tail] } : parsed;
  // A command that writes images stops cleanly on SIGINT/SIGTERM/SIGHUP; the others die at once
  // (so they have no stop request to check).
  const stopping = WRITING_COMMANDS.has(command.name) ? stop : undefined;
  stopping?.install();
  const context: CommandContext = { host, console, help, ...(stopping ? { stop: stopping.signal } : {}) };
  // `--object` of every command, defined before it opens anything (compare's failures exit 2).
  if (!args.options.some((option) => option.key === 'h')) {
    const objects = args.options.filter((option) => option.key === 'object').map((option) => option.value!);
    defineObjects(host, objects, command.name === 'compare' ? 2 : 1);
  }
  if (command.movesData) raiseTierUpBudget();
  return command.run(context, args);
}
