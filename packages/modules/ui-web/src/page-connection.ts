// One connected page: its key and serial-input events go to the machine. Keys it still holds when it
// goes away are released, so a closed tab cannot leave Shift or Ctrl stuck down in the guest.
import type { MachineConsole } from '@tessera/core';
import { decodeClientMessage } from './protocol.ts';
import { scancodesFor } from './scancodes.ts';

export class PageConnection {
  private readonly held = new Set<string>();

  constructor(private readonly machine: MachineConsole) {}

  receive(raw: string): void {
    const message = decodeClientMessage(raw);
    if (message?.type === 'serial') {
      if (message.data.length > 0) this.machine.sendSerialInput(Buffer.from(message.data, 'utf8'));
    } else if (message?.type === 'key') {
      this.key(message.code, message.down);
    }
  }

  /** Releases every key this page left pressed. */
  disconnected(): void {
    for (const code of [...this.held]) this.key(code, false);
  }

  private key(code: string, down: boolean): void {
    // A release without a press (e.g. the press went to another element) would confuse the guest.
    if (!down && !this.held.has(code)) return;
    const codes = scancodesFor(code, down);
    if (down) {
      if (codes.length === 0) return; // not a PC key
      this.held.add(code);
    } else {
      this.held.delete(code);
    }
    if (codes.length > 0) this.machine.sendScancodes(codes);
  }
}
