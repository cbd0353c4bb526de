/** A command-line error, reported QEMU's way: `tessera: -opt arg: message`, exit 1. */
export class OptionError extends Error {
  constructor(
    readonly option: string | undefined,
    readonly argument: string | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'OptionError';
  }

  /** The line QEMU would print (without the program name). */
  get where(): string {
    if (this.option === undefined) return '';
    return this.argument === undefined ? `${this.option}: ` : `${this.option} ${this.argument}: `;
  }
}
