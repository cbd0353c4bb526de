import { UsageError } from './errors.ts';

/**
 * Command-line parsing the way qemu-img's getopt_long does it (GNU rules): short options
 * cluster (`-qU`), an option's argument may be attached (`-fraw`) or the next word (`-f raw`),
 * long options take `--name=value` or `--name value` and may be abbreviated to any unambiguous
 * prefix, options and operands may be mixed, and `--` ends the options.
 */

export interface LongOption {
  readonly name: string;
  readonly hasArg: boolean;
  /** What the option is reported as; defaults to its name (`format` may report as `f`). */
  readonly key?: string;
}

export interface OptionSpec {
  /** getopt's short option string: each letter, followed by `:` when it takes an argument. */
  readonly short: string;
  readonly long?: readonly LongOption[];
  /** Stop at the first operand (the top level stops at the command name). */
  readonly stopAtOperand?: boolean;
}

export interface ParsedOption {
  /** The short letter or the long option's key. */
  readonly key: string;
  readonly value?: string;
}

export interface ParsedArgs {
  /** Options in command-line order (later ones override earlier ones where that matters). */
  readonly options: readonly ParsedOption[];
  readonly operands: readonly string[];
}

export function getopt(args: readonly string[], spec: OptionSpec): ParsedArgs {
  const shortOptions = parseShortSpec(spec.short);
  const options: ParsedOption[] = [];
  const operands: string[] = [];
  let i = 0;
  const nextWord = (): string | undefined => (i < args.length ? args[i++] : undefined);

  while (i < args.length) {
    const word = args[i++]!;
    if (word === '--') {
      operands.push(...args.slice(i));
      break;
    }
    if (word === '-' || !word.startsWith('-')) {
      operands.push(word);
      if (spec.stopAtOperand) {
        operands.push(...args.slice(i));
        break;
      }
      continue;
    }
    if (word.startsWith('--')) {
      options.push(parseLong(word, spec.long ?? [], nextWord));
      continue;
    }
    // A cluster of short options: `-qU`, `-fraw`, `-Uf raw`.
    for (let c = 1; c < word.length; c++) {
      const letter = word[c]!;
      const takesArg = shortOptions.get(letter);
      if (takesArg === undefined) throw new UsageError(`unrecognized option '${word}'`);
      if (!takesArg) {
        options.push({ key: letter });
        continue;
      }
      const attached = word.slice(c + 1);
      const value = attached !== '' ? attached : nextWord();
      if (value === undefined) throw new UsageError(`missing argument for option '${word}'`);
      options.push({ key: letter, value });
      break;
    }
  }
  return { options, operands };
}

function parseShortSpec(short: string): Map<string, boolean> {
  const letters = new Map<string, boolean>();
  for (let i = 0; i < short.length; i++) {
    const letter = short[i]!;
    if (letter === ':') continue;
    letters.set(letter, short[i + 1] === ':');
  }
  return letters;
}

function parseLong(word: string, long: readonly LongOption[], nextWord: () => string | undefined): ParsedOption {
  const equals = word.indexOf('=');
  const name = word.slice(2, equals < 0 ? undefined : equals);
  const inline = equals < 0 ? undefined : word.slice(equals + 1);
  const option = findLong(name, long);
  if (!option) throw new UsageError(`unrecognized option '${word}'`);
  const key = option.key ?? option.name;
  if (!option.hasArg) {
    if (inline !== undefined) throw new UsageError(`unrecognized option '${word}'`);
    return { key };
  }
  const value = inline ?? nextWord();
  if (value === undefined) throw new UsageError(`missing argument for option '${word}'`);
  return { key, value };
}

/** The long option named exactly, or else the only one the name abbreviates. */
function findLong(name: string, long: readonly LongOption[]): LongOption | undefined {
  if (name === '') return undefined;
  const exact = long.find((option) => option.name === name);
  if (exact) return exact;
  const candidates = long.filter((option) => option.name.startsWith(name));
  return candidates.length === 1 ? candidates[0] : undefined;
}
