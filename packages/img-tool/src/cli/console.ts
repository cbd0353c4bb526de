import type { Writable } from 'node:stream';
import { ToolError, UsageError, errorMessage } from './errors.ts';

/**
 * Where a command's output goes: results on stdout, `program: message` errors on stderr. The
 * streams are taken on first use: creating one loads Node's stream modules (milliseconds at
 * startup), which a command that prints nothing (convert) does not need.
 */
export class Console {
  private out_: Writable | undefined;
  private err_: Writable | undefined;

  constructor(
    readonly program: string,
    stdout?: Writable,
    stderr?: Writable,
  ) {
    this.out_ = stdout;
    this.err_ = stderr;
  }

  private get stdout(): Writable {
    return (this.out_ ??= process.stdout);
  }

  private get stderr(): Writable {
    return (this.err_ ??= process.stderr);
  }

  /** Write to stdout as it is (results, progress). */
  out(text: string): void {
    this.stdout.write(text);
  }

  /** Write to stderr as it is (a driver's findings, unprefixed as qemu's fprintf prints them). */
  errorText(text: string): void {
    this.stderr.write(text);
  }

  /** `program: message` on stderr; further lines of the message are printed unprefixed. */
  error(message: string): void {
    this.stderr.write(`${this.program}: ${message}\n`);
  }

  warn(message: string): void {
    this.error(`warning: ${message}`);
  }

  /** Print a failure as qemu-img does and give the exit code it implies. */
  report(error: unknown): number {
    if (error instanceof ToolError) {
      for (const message of error.messages) this.error(message);
      if (error instanceof UsageError) this.stderr.write(`Try '${this.program} --help' for more information\n`);
      return error.exitCode;
    }
    this.error(errorMessage(error));
    return 1;
  }

  /** Resolves once everything written so far has been handed to the operating system. */
  async flush(): Promise<void> {
    await Promise.all([this.out_ && drain(this.out_), this.err_ && drain(this.err_)]);
  }
}

function drain(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    if (stream.writableLength === 0) resolve();
    else stream.write('', () => resolve());
  });
}
