import type { BlockErrorCode, CodedBlockError } from '@tessera/core';

/** A failure callers tell apart by its code (core's contract; a module imports only core's types). */
export function codedError(message: string, code: BlockErrorCode, options?: { cause?: unknown }): CodedBlockError {
  return Object.assign(new Error(message, options), { code });
}

/** An image that breaks the qcow2 rules: named, with what is wrong, never a crash or a huge allocation. */
export function corrupt(filename: string, what: string): CodedBlockError {
  return codedError(`Could not open '${filename}': qcow2 image is corrupt: ${what}`, 'corrupt-image');
}
