import { writeSync } from 'node:fs';
import type { Writable } from 'node:stream';

/**
 * Text to a file descriptor (stdout, stderr), written with write(2) directly: creating
 * process.stdout or process.stderr loads Node's stream (and, for a pipe, net) modules, milliseconds
 * of a command that runs in a few dozen. Should the descriptor be non-blocking and full (EAGAIN), the
 * rest, and everything after it, goes through the Node stream instead, in order. A reader that
 * went away (EPIPE) gets nothing more, as a program killed by SIGPIPE would give it.
 */
export class OutputSink {
  private stream: Writable | undefined;
  private closed = false;

  constructor(
    private readonly fd: number,
    private readonly streamOf: () => Writable,
  ) {}

  write(text: string): void {
    if (this.closed || text.length === 0) return;
    if (this.stream) {
      this.stream.write(text);
      return;
    }
    const bytes = Buffer.from(text);
    let done = 0;
    try {
      while (done < bytes.length) done += writeSync(this.fd, bytes, done);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EPIPE') {
        this.closed = true;
        return;
      }
      if (code !== 'EAGAIN') throw error;
    }
    this.stream = this.streamOf();
    this.stream.write(bytes.subarray(done));
  }

  /** Resolves once everything written so far has been handed to the operating system. */
  flush(): Promise<void> {
    const stream = this.stream;
    return new Promise((resolve) => {
      if (!stream || stream.writableLength === 0) resolve();
      else stream.write('', () => resolve());
    });
  }
}
