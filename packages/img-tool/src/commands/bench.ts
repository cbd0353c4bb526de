import { BlockError, blockErrorCode, type BlockNode } from '@tessera/core';
import { ToolError, UsageError, errorMessage } from '../cli/errors.ts';
import { parseCInteger } from '../cli/values.ts';
import { openImage } from '../image/open.ts';
import { errnoCode } from '../image/errno.ts';
import { FORCE_SHARE, HELP, IMAGE_OPTS, OBJECT, boundedSize, formatConflict, parseImageCommandOptions } from './common.ts';
import type { Command } from './types.ts';

const INT_MAX = 2 ** 31 - 1;
const INT64_MAX = (1n << 63n) - 1n;
const CACHE_MODES = ['none', 'off', 'writeback', 'writethrough', 'directsync', 'unsafe'];
const AIO_MODES = ['threads', 'native', 'io_uring'];

interface BenchSettings {
  count: number;
  depth: number;
  bufferSize: number;
  step: number;
  offset: number;
  pattern: number;
  flushInterval: number;
  drain: boolean;
  write: boolean;
  cache: string;
  aio: string;
}

/**
 * `bench`: `count` reads (or writes of a pattern byte with -w) of `-s` bytes, `-d` at a time,
 * from `-o` on in steps of `-S` (wrapping at the image's end), optionally with a flush every
 * `--flush-interval` requests; prints how long the run took.
 */
export const benchCommand: Command = {
  name: 'bench',
  movesData: true,
  synopsis:
    'bench [-c count] [-d depth] [-f fmt] [--flush-interval=flush_interval] [-i aio] [-n] [--no-drain] [-o offset] [--pattern=pattern_number] [-q] [-s buffer_size] [-S step_size] [-t cache] [-U] [-w] filename',
  options: {
    short: ':hc:d:f:ni:o:qs:S:t:wU',
    long: [HELP, OBJECT, IMAGE_OPTS, FORCE_SHARE, { name: 'flush-interval', hasArg: true }, { name: 'pattern', hasArg: true }, { name: 'no-drain', hasArg: false }],
  },

  async run(context, args) {
    const b: BenchSettings = { count: 75000, depth: 64, bufferSize: 4096, step: 0, offset: 0, pattern: 0, flushInterval: 0, drain: true, write: false, cache: 'writeback', aio: 'threads' };
    let nativeAio = false;
    const common = parseImageCommandOptions(args, (option) => {
      const value = option.value!;
      switch (option.key) {
        case 'c':
          b.count = integer(value, 0, INT_MAX, 'Invalid request count specified');
          break;
        case 'd':
          b.depth = integer(value, 0, INT_MAX, 'Invalid queue depth specified');
          break;
        case 'n':
          nativeAio = true; // native AIO (the I/O itself is the same here)
          break;
        case 'i':
          if (!AIO_MODES.includes(value)) throw new ToolError(`Invalid aio option: ${value}`);
          b.aio = value;
          break;
        case 'o':
          b.offset = Number(boundedSize('offset', value, 0n, INT64_MAX));
          break;
        case 'q':
          break; // qemu-img prints its two lines even with -q
        case 's':
          b.bufferSize = Number(boundedSize('buffer size', value, 0n, BigInt(INT_MAX)));
          break;
        case 'S':
          b.step = Number(boundedSize('step_size', value, 0n, BigInt(INT_MAX)));
          break;
        case 't':
          if (!CACHE_MODES.includes(value)) throw new ToolError('Invalid cache mode');
          b.cache = value;
          break;
        case 'w':
          b.write = true;
          break;
        case 'pattern':
          b.pattern = integer(value, 0, 0xff, 'Invalid pattern byte specified');
          break;
        case 'flush-interval':
          b.flushInterval = integer(value, 0, INT_MAX, 'Invalid flush interval specified');
          break;
        case 'no-drain':
          b.drain = false;
          break;
      }
    });
    if (common.help) return context.help();
    if (args.operands.length !== 1) throw new UsageError('Expecting one image file name');
    if (common.imageOpts && common.format !== undefined) throw formatConflict();
    if (!b.write && b.flushInterval) throw new ToolError('--flush-interval is only available in write tests');
    if (b.flushInterval && b.flushInterval < b.depth) throw new ToolError("Flush interval can't be smaller than depth");
    const filename = args.operands[0]!;
    // Native AIO (-n or -i native) needs O_DIRECT: -t none or directsync.
    if ((nativeAio || b.aio === 'native') && b.cache !== 'none' && b.cache !== 'directsync') {
      throw new ToolError(`Could not open '${filename}': aio=native was specified, but it requires cache.direct=on, which was not specified.`);
    }
    if (b.step === 0) b.step = b.bufferSize;

    const image = await openImage(context.host, { filename, format: common.format, imageOpts: common.imageOpts }, { readOnly: !b.write, forceShare: common.forceShare });
    try {
      context.console.out(
        `Sending ${b.count} ${b.write ? 'write' : 'read'} requests, ${b.bufferSize} bytes each, ${b.depth} in parallel ` +
          `(starting at offset ${b.offset}, step size ${b.step})\n`,
      );
      if (b.flushInterval) context.console.out(`Sending flush every ${b.flushInterval} requests\n`);
      const started = process.hrtime.bigint();
      await runRequests(image, b);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      context.console.out(`Run completed in ${seconds.toFixed(3)} seconds.\n`);
    } finally {
      await image.close();
    }
    return 0;
  },
};

/** The requests, `depth` in flight (one buffer each), flushes in between; the first failure ends the run. */
async function runRequests(image: BlockNode, b: BenchSettings): Promise<void> {
  const size = image.size;
  let offset = b.offset;
  let issued = 0;
  let failure: unknown;
  const inFlight = new Set<Promise<void>>();
  const buffers = Array.from({ length: Math.max(1, Math.min(b.depth, b.count)) }, () => new Uint8Array(b.bufferSize).fill(b.pattern));
  const free: Uint8Array[] = [...buffers];
  const request = (at: number, buffer: Uint8Array): Promise<void> => {
    if (at < 0 || at + buffer.length > size) return Promise.reject(new BlockError('Input/output error', { code: 'out-of-range' }));
    return b.write ? image.write(at, buffer) : image.read(at, buffer);
  };
  const launch = (body: () => Promise<void>, buffer?: Uint8Array): void => {
    const done: Promise<void> = body()
      .catch((error: unknown) => {
        failure ??= error;
      })
      .finally(() => {
        inFlight.delete(done);
        if (buffer) free.push(buffer);
      });
    inFlight.add(done);
  };
  while (issued < b.count && failure === undefined) {
    if (free.length === 0) {
      await Promise.race(inFlight);
      continue;
    }
    const buffer = free.pop()!;
    const at = offset;
    launch(() => request(at, buffer), buffer);
    issued++;
    offset = size === 0 ? 0 : (offset + b.step) % size;
    if (b.flushInterval && issued % b.flushInterval === 0) {
      if (b.drain) {
        await Promise.all(inFlight);
        if (failure === undefined) await image.flush().catch((error: unknown) => (failure ??= error));
      } else {
        launch(() => image.flush());
      }
    }
  }
  await Promise.all(inFlight);
  if (failure !== undefined) {
    // A request past the end is qemu's EIO, as an I/O error of the storage is.
    const outOfRange = blockErrorCode(failure) === 'out-of-range';
    const reason = outOfRange || errnoCode(failure) === 'EIO' ? 'Input/output error' : errorMessage(failure);
    throw new ToolError(`Failed request: ${reason}`, 1, { cause: failure });
  }
}

/** An integer option as qemu's strtoul-style parsers read it (decimal, 0x hex, 0 octal). */
function integer(text: string, min: number, max: number, message: string): number {
  const value = parseCInteger(text);
  if (value === undefined || value < min || value > max) throw new ToolError(message);
  return value;
}
