/** A block-layer failure the user can act on (bad image, unknown driver, unreachable server). */
export class BlockError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BlockError';
  }
}
