// Serial output to every page, with a scrollback so a page opened later sees what came before.
import type { MachineConsole } from '@tessera/core';
import { encodeSerial } from './protocol.ts';

const SCROLLBACK_BYTES = 64 * 1024;

export interface SerialReceiver {
  send(data: Buffer): void;
}

export class SerialRelay {
  private scrollback = Buffer.alloc(0);
  private readonly receivers = new Set<SerialReceiver>();
  private readonly unsubscribe: () => void;

  constructor(machine: MachineConsole) {
    this.unsubscribe = machine.onSerialOutput((data) => this.output(data));
  }

  add(receiver: SerialReceiver): void {
    this.receivers.add(receiver);
    if (this.scrollback.length > 0) receiver.send(encodeSerial(this.scrollback));
  }

  remove(receiver: SerialReceiver): void {
    this.receivers.delete(receiver);
  }

  close(): void {
    this.unsubscribe();
    this.receivers.clear();
  }

  private output(data: Uint8Array): void {
    if (data.length === 0) return;
    const joined = Buffer.concat([this.scrollback, data]);
    this.scrollback = joined.length > SCROLLBACK_BYTES ? Buffer.from(joined.subarray(joined.length - SCROLLBACK_BYTES)) : joined;
    const message = encodeSerial(data);
    for (const receiver of this.receivers) receiver.send(message);
  }
}
