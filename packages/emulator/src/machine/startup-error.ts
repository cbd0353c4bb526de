/** A failure while setting the machine up (missing BIOS, unreadable kernel, refused module): exit 1. */
export class StartupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartupError';
  }
}
