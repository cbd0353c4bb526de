import { blockErrorCode, protocolOf, type Host } from '@tessera/core';
import { errorMessage } from '../cli/errors.ts';
import { isBlockDevice } from './block-device.ts';
import { describeErrno, errnoCode } from './errno.ts';

/** qemu's file driver writes the first block of a new raw image so its size can be probed later. */
const FIRST_BLOCK = 4096;

const PREALLOCATION_MODES = ['off', 'falloc', 'full'];
const PREALLOCATION_CHUNK = 2 * 1024 * 1024;
const INT64_MAX = (1n << 63n) - 1n;

/** The storage's protocol cannot create images (http): qemu-img reports this before anything else. */
export class CreationUnsupportedError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CreationUnsupportedError';
  }
}

export interface CreateImageOptions {
  readonly formatOptions?: Readonly<Record<string, string>>;
  /** File-protocol options the tool applies itself: `preallocation`. */
  readonly fileOptions?: Readonly<Record<string, string>>;
}

/**
 * Create an image as qemu-img does: local files are whole 512-byte sectors long, and the first
 * block of a raw file is written (allocated) right away. Errors carry qemu-img's wording.
 */
export async function createImage(
  host: Host,
  location: string,
  format: string,
  size: bigint,
  options: CreateImageOptions = {},
): Promise<void> {
  const local = protocolOf(location) === 'file';
  const bytes = local ? (size + 511n) / 512n * 512n : size;
  // Sizes no file can have: qemu's sector rounding overflows (EINVAL) or the file system refuses (EFBIG).
  if (bytes > INT64_MAX) throw new Error('Could not resize file: Invalid argument');
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`The image size is too large for file format '${format}'`);
  const preallocation = options.fileOptions?.preallocation ?? 'off';
  if (!PREALLOCATION_MODES.includes(preallocation)) throw new Error(`invalid parameter value: ${preallocation}`);
  try {
    // A file the image names (an external data file) is made the way a raw image is made here.
    // Its failure is told in its own words, not as the image's.
    await host.block.create(location, format, Number(bytes), options.formatOptions ?? {}, (relative, length) =>
      createImage(host, relative, 'raw', BigInt(length)).catch((error: unknown) => {
        throw new WordedError(errorMessage(error), { cause: error });
      }),
    );
    const driver = await host.block.formatDriver(format);
    // A block device keeps what it holds (qemu's host_device): nothing is allocated or zeroed.
    if (local && !driver.create && bytes > 0n && !isBlockDevice(location)) {
      // Without fallocate in Node, `falloc` allocates by writing zeroes, as `full` does.
      const length = preallocation === 'off' ? Math.min(FIRST_BLOCK, Number(bytes)) : Number(bytes);
      try {
        await writeZeroes(host, location, length);
      } catch (error) {
        if (preallocation === 'off') throw error;
        throw new WordedError(`Could not write zeros for preallocation: ${reasonOf(error)}`, { cause: error });
      }
    }
  } catch (error) {
    if (blockErrorCode(error) === 'unsupported-operation') {
      throw new CreationUnsupportedError(errorMessage(error), { cause: error });
    }
    throw new Error(creationFailure(error, location, format, options.formatOptions?.preallocation ?? 'off'), { cause: error });
  }
}

/** A failure already in qemu's words (zeroes could not be written for preallocation; a data file could not be made): final. */
class WordedError extends Error {}

/** A failure's reason as the C library words it, when it is a system call's. */
function reasonOf(error: unknown): string {
  const code = errnoCode(error);
  return (code !== undefined ? describeErrno(code) : undefined) ?? errorMessage(error);
}

/** Allocate `[0, length)` of the new file by writing zeroes there. */
async function writeZeroes(host: Host, location: string, length: number): Promise<void> {
  const file = await host.block.openFile(location, { readOnly: false });
  const zeroes = new Uint8Array(Math.min(length, PREALLOCATION_CHUNK));
  try {
    for (let at = 0; at < length; at += zeroes.length) {
      await file.write(at, zeroes.subarray(0, Math.min(zeroes.length, length - at)));
    }
  } finally {
    await file.close();
  }
}

function creationFailure(error: unknown, location: string, format: string, preallocation: string): string {
  if (error instanceof WordedError) return error.message;
  const code = errnoCode(error);
  // A format that preallocates (with metadata: falloc/full) out of space: qemu's words for its image growing.
  if ((code === 'ENOSPC' || code === 'EDQUOT') && (preallocation === 'falloc' || preallocation === 'full')) {
    return `Could not resize image: Failed to resize underlying file: Could not write zeros for preallocation: ${describeErrno(code)}`;
  }
  if (code === undefined) return errorMessage(error);
  const reason = describeErrno(code) ?? errorMessage(error);
  // The file driver reports failures to open the file wrapped; truncating fails bare.
  const wrapped = (error as NodeJS.ErrnoException).code !== code;
  if (wrapped) return `Could not create '${location}': ${reason}`;
  if (code === 'EFBIG') return `The image size is too large for file format '${format}'`;
  return `Could not resize file: ${reason}`;
}
