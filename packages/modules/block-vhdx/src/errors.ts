import type { BlockErrorCode } from '@tessera/core';

/**
 * A failure with core's block error code. Modules may import only types from core, so this is
 * core's BlockError shape (name, message, code) built here; callers tell failures apart by `code`.
 */
export class VhdxError extends Error {
  constructor(
    message: string,
    readonly code: BlockErrorCode,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'BlockError';
  }
}

/** An impossible field: qemu's message for the case, under "Could not open". */
export const corrupt = (filename: string, what: string): VhdxError => new VhdxError(`Could not open '${filename}': ${what}`, 'corrupt-image');

export const unsupported = (filename: string, what: string): VhdxError => new VhdxError(`Could not open '${filename}': ${what}`, 'unsupported-feature');
