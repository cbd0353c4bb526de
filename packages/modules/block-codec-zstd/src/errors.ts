import type { BlockErrorCode, CodedBlockError } from '@tessera/core';

/** A failure callers tell apart by its code (core's contract; a module imports only core's types). */
export function codedError(message: string, code: BlockErrorCode, options?: { cause?: unknown }): CodedBlockError {
  return Object.assign(new Error(message, options), { code });
}
