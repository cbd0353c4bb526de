import { SECTOR_SIZE, type SnapshotSelector } from '@tessera/core';
import { defineObject } from '../cli/objects/index.ts';
import { ToolError } from '../cli/errors.ts';
import { parseSnapshotParam } from '../image/snapshot-source.ts';
import type { ParsedOption } from '../cli/getopt.ts';
import { parseCInteger, parseSizeArgument } from '../cli/values.ts';
import { isValidOptionList } from '../image/key-value.ts';
import { formatConflict } from './common.ts';
import type { CommandContext } from './types.ts';

const DEFAULT_FORMAT = 'raw';
const DEFAULT_SPARSE_SIZE = 4096;
/** qemu-img's largest -S: 32768 sectors. */
const MAX_SPARSE_SIZE = 16 * 1024 * 1024;
const DEFAULT_COROUTINES = 8;

/** convert's options, checked as qemu-img checks them while parsing. */
export interface ConvertSettings {
  /** `-U`: the sources forbid nothing to others (their image locks share everything). */
  forceShare?: boolean;
  sourceFormat?: string;
  outputFormat: string;
  optionLists: string[];
  sparseSize: number;
  showProgress: boolean;
  quiet: boolean;
  skipCreate: boolean;
  imageOpts: boolean;
  targetImageOpts: boolean;
  targetIsZero: boolean;
  compress: boolean;
  backingFile?: string;
  backingFormat?: string;
  /** `-l`: the source's internal snapshot to convert. */
  snapshot?: SnapshotSelector;
  bitmaps: boolean;
  skipBrokenBitmaps: boolean;
  copyOffload: boolean;
  salvage: boolean;
  cache?: string;
  sourceCache?: string;
  coroutines: number;
  /** `-W`: chunks are written as they are read, not in order. */
  outOfOrder: boolean;
  rateLimit?: number;
}

/** convert's options in command-line order; 'help' for -h. Value errors are reported as they come. */
export function parseSettings(context: CommandContext, options: readonly ParsedOption[]): ConvertSettings | 'help' {
  const settings: ConvertSettings = {
    outputFormat: DEFAULT_FORMAT,
    optionLists: [],
    sparseSize: DEFAULT_SPARSE_SIZE,
    showProgress: false,
    quiet: false,
    skipCreate: false,
    imageOpts: false,
    targetImageOpts: false,
    targetIsZero: false,
    compress: false,
    bitmaps: false,
    skipBrokenBitmaps: false,
    copyOffload: false,
    salvage: false,
    coroutines: DEFAULT_COROUTINES,
    outOfOrder: false,
  };
  for (const { key, value } of options) {
    switch (key) {
      case 'h':
        return 'help';
      case 'f':
        settings.sourceFormat = value;
        break;
      case 'O':
        settings.outputFormat = value!;
        break;
      case 'B':
        settings.backingFile = value;
        break;
      case 'F':
        settings.backingFormat = value;
        break;
      case 'c':
        settings.compress = true;
        break;
      case 'o':
        if (!isValidOptionList(value!)) throw new ToolError(`Invalid option list: ${value}`);
        settings.optionLists.push(value!);
        break;
      case 'l':
        settings.snapshot = parseSnapshotParam(value!);
        break;
      case 'S':
        settings.sparseSize = parseSparseSize(value!, context);
        break;
      case 'p':
        settings.showProgress = true;
        break;
      case 't':
        settings.cache = value;
        break;
      case 'T':
        settings.sourceCache = value;
        break;
      case 'q':
        settings.quiet = true;
        break;
      case 'n':
        settings.skipCreate = true;
        break;
      case 'm':
        settings.coroutines = parseCoroutines(value!);
        break;
      case 'W':
        settings.outOfOrder = true;
        break;
      case 'r':
        settings.rateLimit = Number(parseSizeArgument('rate limit', value!, context.console));
        break;
      case 'image-opts':
        settings.imageOpts = true;
        break;
      case 'target-image-opts':
        settings.targetImageOpts = true;
        break;
      case 'target-is-zero':
        settings.targetIsZero = true;
        break;
      case 'bitmaps':
        settings.bitmaps = true;
        break;
      case 'skip-broken-bitmaps':
        settings.skipBrokenBitmaps = true;
        break;
      case 'C':
        settings.copyOffload = true; // accepted; the copy is the same either way
        break;
      case 'salvage':
        settings.salvage = true; // accepted; read errors stop the copy
        break;
      case 'object':
        defineObject(value!);
        break;
      case 'U':
        settings.forceShare = true; // sources only: they are the read-only images
        break;
    }
  }
  return settings;
}

function parseSparseSize(text: string, context: CommandContext): number {
  const value = parseSizeArgument('buffer size for sparse output', text, context.console);
  if (value % BigInt(SECTOR_SIZE) !== 0n || value > BigInt(MAX_SPARSE_SIZE)) {
    throw new ToolError(
      'Invalid buffer size for sparse output specified. Valid sizes are multiples of 512 up to 16777216. ' +
        'Select 0 to disable sparse detection (fully allocates output).',
    );
  }
  return Number(value);
}

function parseCoroutines(text: string): number {
  const value = parseCInteger(text);
  if (value === undefined || value < 1 || value > 16) {
    throw new ToolError('Invalid number of coroutines. Allowed number of coroutines is between 1 and 16');
  }
  return value;
}

/** Option combinations qemu-img refuses before opening anything. */
export function checkCombinations(settings: ConvertSettings): void {
  if (settings.imageOpts && settings.sourceFormat !== undefined) throw formatConflict();
  if (settings.targetImageOpts && !settings.skipCreate) throw new ToolError('--target-image-opts requires use of -n flag');
  if (settings.targetIsZero && !settings.skipCreate) throw new ToolError('--target-is-zero requires use of -n flag');
  if (settings.skipCreate && settings.optionLists.length > 0) {
    throw new ToolError('-o has no effect when skipping image creation');
  }
  if (settings.copyOffload && settings.salvage) throw new ToolError('Cannot use copy offloading in salvaging mode');
  if (settings.skipBrokenBitmaps && !settings.bitmaps) throw new ToolError('--skip-broken-bitmaps requires --bitmaps');
}
