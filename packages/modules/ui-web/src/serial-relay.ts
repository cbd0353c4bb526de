// Serial output to every page, with a scrollback so a page opened later sees what came before.
// The machine hands over serial output a byte at a time; it is gathered for a few milliseconds so a
// page gets one message per burst rather than one per byte.
import type { MachineConsole } from '@tessera/core';
import { encodeSerial } from './protocol.ts';

const SCROLLBACK_BYTES = 64 * 1024;
/** Short enough that typed characters echo without a noticeable delay. */
const GATHER_MS = 10;

export interface SerialReceiver {
  send(data: Buffer): void;
}

export class SerialRelay {
  private scrollback: Buffer[] = [];
  private scrollbackBytes = 0;
  private pending: Buffer[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly receivers = new Set<SerialReceiver>();
  private readonly unsubscribe: () => void;

  constructor(machine: MachineConsole) {
    this.unsubscribe = machine.onSerialOutput((data) => this.output(data));
  }

  add(receiver: SerialReceiver): void {
    this.flush(); // what is pending goes to the others first, and into the scrollback
    this.receivers.add(receiver);
    if (this.scrollbackBytes > 0) receiver.send(encodeSerial(Buffer.concat(this.scrollback)));
  }

  remove(receiver: SerialReceiver): void {
    this.receivers.delete(receiver);
  }

  close(): void {
    this.unsubscribe();
    clearTimeout(this.timer);
    this.timer = undefined;
    this.receivers.clear();
  }

  private output(data: Uint8Array): void {
    if (data.length === 0) return;
    this.pending.push(Buffer.from(data)); // a copy: the machine may reuse its buffer
    this.timer ??= setTimeout(() => this.flush(), GATHER_MS);
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const data = Buffer.concat(this.pending);
    this.pending = [];
    this.remember(data);
    const message = encodeSerial(data);
    for (const receiver of this.receivers) receiver.send(message);
  }

  private remember(data: Buffer): void {
    this.scrollback.push(data);
    this.scrollbackBytes += data.length;
    while (this.scrollbackBytes - this.scrollback[0]!.length >= SCROLLBACK_BYTES) {
      this.scrollbackBytes -= this.scrollback.shift()!.length;
    }
    if (this.scrollbackBytes > SCROLLBACK_BYTES) {
      // Keep exactly the last SCROLLBACK_BYTES (a chunk may straddle the limit).
      const joined = Buffer.concat(this.scrollback);
      this.scrollback = [joined.subarray(joined.length - SCROLLBACK_BYTES)];
      this.scrollbackBytes = SCROLLBACK_BYTES;
    }
  }
}
