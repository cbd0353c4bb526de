/**
 * Codes of the block-layer failures a caller must tell apart:
 * - `unsupported-format`: the image is in a format this program has no driver for;
 * - `EPERM`: a write refused (a probed raw image's first or last sector would look like another format);
 * - `local-backing-of-remote`: a remote image names a local file as its backing or data file;
 * - `backing-loop`: an image's backing chain leads back to an image of the chain;
 * - `corrupt-image`: a field of the image's metadata is impossible (an offset past the end, a count
 *   too large, a bad checksum): the image is refused, nothing is guessed;
 * - `unsupported-feature`: a valid image (or subformat) uses a feature the driver does not implement;
 * - `invalid-option`: a driver option (`-o`, `--image-opts`) is unknown or its value is invalid;
 * - `unsupported-operation`: the driver cannot do what was asked (create, resize, write, snapshots).
 */
export type BlockErrorCode =
  | 'unsupported-format'
  | 'EPERM'
  | 'local-backing-of-remote'
  | 'backing-loop'
  | 'corrupt-image'
  | 'unsupported-feature'
  | 'invalid-option'
  | 'unsupported-operation';

/** A block-layer failure the user can act on (bad image, unknown driver, unreachable server). */
export class BlockError extends Error {
  readonly code: BlockErrorCode | undefined;

  constructor(message: string, options?: { cause?: unknown; code?: BlockErrorCode }) {
    super(message, options);
    this.name = 'BlockError';
    this.code = options?.code;
  }
}
