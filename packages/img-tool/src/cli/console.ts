import { ToolError, UsageError, errorMessage } from './errors.ts';
import { OutputSink } from './output-sink.ts';

/** Where a command's output goes: results on stdout, `program: message` errors on stderr. */
export class Console {
  private readonly stdout = new OutputSink(1, () => process.stdout);
  private readonly stderr = new OutputSink(2, () => process.stderr);

  constructor(readonly program: string) {}

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
    await Promise.all([this.stdout.flush(), this.stderr.flush()]);
  }
}
