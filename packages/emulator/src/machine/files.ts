import { readFile } from 'node:fs/promises';
import { StartupError } from './startup-error.ts';

/** A whole host file as an ArrayBuffer (what v86 takes for BIOS, kernel and initrd). */
export async function readWhole(path: string, describe: (reason: string) => string): Promise<ArrayBuffer> {
  try {
    const data = await readFile(path);
    return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'No such file or directory' : code === 'EACCES' ? 'Permission denied' : code === 'EISDIR' ? 'Is a directory' : (error as Error).message;
    throw new StartupError(describe(reason), { cause: error });
  }
}
