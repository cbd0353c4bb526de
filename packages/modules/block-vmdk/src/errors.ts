import type { BlockErrorCode } from '@tessera/core';

/**
 * A driver failure with core's block error code. A loadable module may import only types from
 * core, so this mirrors core's BlockError (same name, same `code` field) instead of extending it.
 */
export class VmdkError extends Error {
  constructor(
    message: string,
    readonly code: BlockErrorCode,
  ) {
    super(message);
    this.name = 'BlockError';
  }
}

/** A field of the image is impossible: the image is refused, nothing is guessed. */
export function corrupt(message: string): VmdkError {
  return new VmdkError(message, 'corrupt-image');
}

/** A valid image using something this driver does not implement. */
export function unsupportedFeature(message: string): VmdkError {
  return new VmdkError(message, 'unsupported-feature');
}

export function invalidOption(message: string): VmdkError {
  return new VmdkError(message, 'invalid-option');
}

export function unsupportedOperation(message: string): VmdkError {
  return new VmdkError(message, 'unsupported-operation');
}
