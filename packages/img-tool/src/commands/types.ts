import type { Host } from '@tessera/core';
import type { Console } from '../cli/console.ts';
import type { OptionSpec, ParsedArgs } from '../cli/getopt.ts';
import type { StopRequest } from '../cli/stop-signals.ts';

/** What a subcommand gets to work with. */
export interface CommandContext {
  readonly host: Host;
  readonly console: Console;
  /** Print the program's help (`-h` inside a command, like qemu-img); gives exit code 0. */
  help(): number;
  /** Aborted when SIGINT/SIGTERM/SIGHUP arrived: long copies stop issuing writes (cli/stop-signals.ts). */
  readonly stop?: StopRequest;
}

/**
 * One `tessera-img` subcommand. Its options are parsed (getopt-style) before `run`; `run`
 * returns the exit code, or throws a ToolError whose exit code and messages are reported.
 */
export interface Command {
  readonly name: string;
  /** The usage line in `--help`, after the command name. */
  readonly synopsis: string;
  readonly options: OptionSpec;
  /**
   * The last word is an operand even when it starts with `-` (resize's `-1G`): taken off before
   * the options are parsed (at least two words are needed), then appended to the operands.
   */
  readonly lastWordIsOperand?: boolean;
  /** It reads, writes or walks a whole image (a long, I/O-bound run): see cli/jit-tiering.ts. */
  readonly movesData?: boolean;
  run(context: CommandContext, args: ParsedArgs): Promise<number>;
}
