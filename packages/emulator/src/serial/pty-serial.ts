import { closeSync } from 'node:fs';
import { ReadStream, WriteStream } from 'node:tty';
import { ofdLocks } from '@tessera/block-file/native-lock';
import { ByteBatcher, type SerialCallbacks, type SerialPort } from './serial-port.ts';

/** What the guest may have written that no one has read yet; past it, output is dropped, as QEMU drops it while no one is connected. */
const MAX_UNREAD_OUTPUT = 1 << 20;

/**
 * `-serial pty`: COM1 on a new raw pseudo-terminal, opened through the native addon (Node cannot
 * open one). QEMU prints the terminal's name; a user attaches with `screen /dev/pts/N` or
 * `picocom`. The slave stays open here, so reading the master never fails while no one is attached.
 */
export class PtySerial implements SerialPort {
  readonly path: string;
  private readonly reader: ReadStream;
  private readonly writer: WriteStream;
  private readonly slave: number;
  private readonly batcher: ByteBatcher;

  constructor(callbacks: SerialCallbacks) {
    const pty = ofdLocks().openPty();
    this.path = pty.path;
    this.slave = pty.slave;
    this.reader = new ReadStream(pty.master);
    this.writer = new WriteStream(pty.masterWrite);
    this.reader.on('data', (data: Buffer) => callbacks.toGuest(data));
    // EIO when the terminal goes away; nothing to do but stop reading.
    this.reader.on('error', () => {});
    this.writer.on('error', () => {});
    this.batcher = new ByteBatcher((data) => {
      if (this.writer.writableLength < MAX_UNREAD_OUTPUT) this.writer.write(data);
    });
    // The terminal must not keep the process alive: the machine decides when it ends.
    this.reader.unref();
  }

  output(byte: number): void {
    this.batcher.push(byte);
  }

  async close(): Promise<void> {
    this.batcher.flush();
    this.reader.destroy();
    this.writer.destroy();
    try {
      closeSync(this.slave);
    } catch {
      // already closed
    }
  }
}
