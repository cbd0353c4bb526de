import type { HmpConsole } from './hmp-console.ts';

/**
 * `-serial mon:stdio`: the terminal is COM1 until Ctrl-a c gives it to the human monitor, and
 * Ctrl-a c gives it back (QEMU's mux). Output from both keeps reaching the terminal.
 */
export class SerialMonitorMux {
  private focus: 'serial' | 'monitor' = 'serial';
  private greeted = false;

  constructor(private readonly monitor: HmpConsole) {}

  /** Typed bytes (escape keys already taken out): to the guest or to the monitor. */
  fromTerminal(data: Uint8Array, toGuest: (data: Uint8Array) => void): void {
    if (this.focus === 'serial') toGuest(data);
    else this.monitor.input(data);
  }

  switchFocus(): void {
    this.focus = this.focus === 'serial' ? 'monitor' : 'serial';
    if (this.focus === 'serial') return;
    if (this.greeted) this.monitor.prompt();
    else this.monitor.greet();
    this.greeted = true;
  }
}
