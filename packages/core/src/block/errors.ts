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
 * - `unsupported-operation`: the driver cannot do what was asked (create, resize, write, snapshots);
 * - `out-of-range`: a read or write beyond the end of a node (qemu's EIO for it).
 */
export type BlockErrorCode =
  | 'unsupported-format'
  | 'EPERM'
  | 'local-backing-of-remote'
  | 'backing-loop'
  | 'corrupt-image'
  | 'unsupported-feature'
  | 'invalid-option'
  | 'unsupported-operation'
  | 'out-of-range';

const CODES: ReadonlySet<string> = new Set<BlockErrorCode>([
  'unsupported-format',
  'EPERM',
  'local-backing-of-remote',
  'backing-loop',
  'corrupt-image',
  'unsupported-feature',
  'invalid-option',
  'unsupported-operation',
  'out-of-range',
]);

/**
 * A driver's failure that callers tell apart: any Error whose `code` is a BlockErrorCode. Modules
 * import only core's types, so they make their own (`Object.assign(new Error(message), { code })`);
 * core's BlockError is one too. Callers read the code with `blockErrorCode`, never the message.
 */
export type CodedBlockError = Error & { readonly code: BlockErrorCode };

/** The block-layer code of a failure (BlockError or a driver's coded Error); undefined for others. */
export function blockErrorCode(error: unknown): BlockErrorCode | undefined {
  const code = error instanceof Error ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && CODES.has(code) ? (code as BlockErrorCode) : undefined;
}

/** A block-layer failure the user can act on (bad image, unknown driver, unreachable server). */
export class BlockError extends Error {
  readonly code: BlockErrorCode | undefined;

  constructor(message: string, options?: { cause?: unknown; code?: BlockErrorCode }) {
    super(message, options);
    this.name = 'BlockError';
    this.code = options?.code;
  }
}
