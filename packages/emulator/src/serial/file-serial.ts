import { createWriteStream, openSync, type WriteStream } from 'node:fs';
import { ByteBatcher, type SerialPort } from './serial-port.ts';
import { errnoText } from './errno-text.ts';

/**
 * `-serial file:PATH`: the guest's output, written to PATH (created, or truncated as QEMU does).
 * Opened synchronously at startup so that a bad path is refused before the guest runs.
 */
export class FileSerial implements SerialPort {
  private readonly stream: WriteStream;
  private readonly batcher: ByteBatcher;

  constructor(path: string) {
    let fd: number;
    try {
      fd = openSync(path, 'w', 0o666);
    } catch (error) {
      throw new Error(`Could not open '${path}': ${errnoText(error)}`, { cause: error });
    }
    this.stream = createWriteStream('', { fd });
    this.batcher = new ByteBatcher((data) => this.stream.write(data));
  }

  output(byte: number): void {
    this.batcher.push(byte);
  }

  async close(): Promise<void> {
    this.batcher.flush();
    await new Promise<void>((resolve) => this.stream.end(() => resolve()));
  }
}
