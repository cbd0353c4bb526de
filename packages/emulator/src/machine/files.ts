import { constants, type Stats } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { StartupError } from './startup-error.ts';

export interface ReadLimits {
  /** Largest size accepted; the file is refused, unread, when it is larger. */
  readonly maxBytes: number;
  /** Refuse an empty file (a BIOS or kernel of zero bytes would run nothing, silently). */
  readonly refuseEmpty: boolean;
  /** Says what to do instead when the file is too large (ends the message). */
  readonly tooLarge: (size: number) => string;
}

/**
 * A whole host file as an ArrayBuffer (what v86 takes for BIOS, kernel and initrd), read only if
 * it is a regular file no larger than `limits.maxBytes`: a device (`/dev/zero`), FIFO, socket or
 * directory is refused before it is opened (opening some devices acts), the file is opened
 * non-blocking (a FIFO swapped in after the stat cannot hang `open`) and judged again by `fstat`
 * of what was opened, and never more than its size is read.
 */
export async function readWhole(path: string, describe: (reason: string) => string, limits: ReadLimits): Promise<ArrayBuffer> {
  const fail = (reason: string, cause?: unknown): never => {
    throw new StartupError(describe(reason), cause === undefined ? undefined : { cause });
  };
  const before = await stat(path).catch((error: unknown) => fail(errnoText(error), error));
  checkKind(before, limits, fail);
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK).catch((error: unknown) => fail(errnoText(error), error));
  try {
    const opened = await handle.stat();
    checkKind(opened, limits, fail);
    const data = new Uint8Array(opened.size);
    let filled = 0;
    while (filled < data.byteLength) {
      const { bytesRead } = await handle.read(data, filled, data.byteLength - filled, filled);
      if (bytesRead === 0) fail(`the file shrank while it was read (${filled} of ${opened.size} bytes)`);
      filled += bytesRead;
    }
    return data.buffer;
  } catch (error) {
    if (error instanceof StartupError) throw error;
    return fail(errnoText(error), error);
  } finally {
    await handle.close();
  }
}

function checkKind(stats: Stats, limits: ReadLimits, fail: (reason: string) => never): void {
  if (stats.isDirectory()) fail('Is a directory');
  if (!stats.isFile()) fail(`it is ${kindOf(stats)}, not a regular file`);
  if (stats.size === 0 && limits.refuseEmpty) fail('the file is empty');
  if (stats.size > limits.maxBytes) fail(`the file is too large (${stats.size} bytes): ${limits.tooLarge(stats.size)}`);
}

function kindOf(stats: Stats): string {
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  return 'not a file';
}

function errnoText(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'No such file or directory';
  if (code === 'EACCES') return 'Permission denied';
  if (code === 'EISDIR') return 'Is a directory';
  if (code === 'ELOOP') return 'Too many levels of symbolic links';
  if (code === 'ENOTDIR') return 'Not a directory';
  return (error as Error).message;
}
