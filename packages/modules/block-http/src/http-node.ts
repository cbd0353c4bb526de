import type { BlockNode, BlockStatus } from '@tessera/core';
import type { HttpConnection } from './http-connection.ts';
import { codedError } from '@tessera/module-kit/coded-error';
import { fetchRange } from './range-request.ts';
import { ReadaheadWindow } from './readahead-window.ts';

/** Largest single range request: big reads become several, so no response holds megabytes for long. */
export const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

export interface HttpNodeSettings {
  readonly driver: 'http' | 'https';
  /** The location as the user gave it, and as error messages show it (password hidden). */
  readonly filename: string;
  readonly shownUrl: string;
  readonly size: number;
  readonly timeoutMs: number;
  readonly readahead: number;
}

/** A read-only remote image: every read is one or more byte-range GETs. */
export class HttpNode implements BlockNode {
  readonly readOnly = true;
  readonly driver: 'http' | 'https';
  readonly filename: string;
  readonly size: number;
  private readonly window = new ReadaheadWindow();

  constructor(
    private readonly connection: HttpConnection,
    private readonly settings: HttpNodeSettings,
  ) {
    this.driver = settings.driver;
    this.filename = settings.filename;
    this.size = settings.size;
  }

  async read(offset: number, into: Uint8Array): Promise<void> {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + into.length > this.size) {
      throw codedError(
        `${this.settings.shownUrl}: read of ${into.length} bytes at offset ${offset} is beyond the end of the image (${this.size} bytes)`,
        'out-of-range',
      );
    }
    if (into.length === 0 || this.window.copyTo(offset, into)) return;
    if (into.length >= this.settings.readahead) {
      await this.fetch(offset, into);
      return;
    }
    const span = new Uint8Array(Math.min(this.settings.readahead, this.size - offset));
    await this.fetch(offset, span);
    this.window.keep(offset, span);
    into.set(span.subarray(0, into.length));
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    throw codedError(
      `${this.settings.shownUrl}: cannot write ${data.length} bytes at offset ${offset}: the ${this.driver} driver is read-only`,
      'unsupported-operation',
    );
  }

  async flush(): Promise<void> {
    // Nothing is ever written, so there is nothing to flush.
  }

  async close(): Promise<void> {
    this.window.clear();
    await this.connection.close();
  }

  async allocatedSize(): Promise<number | undefined> {
    // A web server does not say how much of its disk a file occupies.
    return undefined;
  }

  async blockStatus(offset: number, length: number): Promise<BlockStatus> {
    // Without a way to ask for holes, everything is data, mapped one-to-one (like QEMU's curl).
    return { length: Math.min(length, this.size - offset), zero: false, data: true, offset };
  }

  private async fetch(offset: number, into: Uint8Array): Promise<void> {
    for (let done = 0; done < into.length; done += MAX_REQUEST_BYTES) {
      const part = into.subarray(done, Math.min(done + MAX_REQUEST_BYTES, into.length));
      await fetchRange(this.connection, this.settings.shownUrl, this.settings.timeoutMs, offset + done, part);
    }
  }
}
