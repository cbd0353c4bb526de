import type { Writable } from 'node:stream';
import { ToolError, UsageError, errorMessage } from './errors.ts';

/** Where a command's output goes: results on stdout, `program: message` errors on stderr. */
export class Console {
  constructor(
    readonly program: string,
    private readonly stdout: Writable = process.stdout,
    private readonly stderr: Writable = process.stderr,
  ) {}

  /** Write to stdout as it is (results, progress). */
  out(text: string): void {
    this.stdout.write(text);
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
    await Promise.all([drain(this.stdout), drain(this.stderr)]);
  }
}

function drain(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    if (stream.writableLength === 0) resolve();
    else stream.write('', () => resolve());
  });
}
