import type { BlockErrorCode } from '@tessera/core';

/**
 * A failure with one of core's block error codes. A loadable module may import only types from
 * core, so this is a plain Error carrying the `code` (as core's BlockError does), named alike.
 */
export function blockError(message: string, code: BlockErrorCode): Error {
  return Object.assign(new Error(message), { name: 'BlockError', code });
}
