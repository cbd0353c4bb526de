import type { BlockErrorCode, CodedBlockError } from '@tessera/core';

/** A failure callers tell apart by its code (core's contract; a module imports only core's types). */
export function codedError(message: string, code: BlockErrorCode, options?: { cause?: unknown }): CodedBlockError {
  return Object.assign(new Error(message, options), { code });
}

/** A field of the image is impossible: the image is refused, nothing is guessed. */
export const corrupt = (message: string): CodedBlockError => codedError(message, 'corrupt-image');

/** A valid image using something this driver does not implement. */
export const unsupportedFeature = (message: string): CodedBlockError => codedError(message, 'unsupported-feature');

export const invalidOption = (message: string): CodedBlockError => codedError(message, 'invalid-option');

export const unsupportedOperation = (message: string): CodedBlockError => codedError(message, 'unsupported-operation');
