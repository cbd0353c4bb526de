// A MachineConsole for tests: a text screen or an RGBA framebuffer the test draws into, a serial
// port whose output the test writes and whose input it records, and a recording keyboard.
import type { MachineConsole, Screen } from '@tessera/core';

export class TestMachine implements MachineConsole {
  private current: Screen;
  private readonly screenListeners = new Set<() => void>();
  private readonly serialListeners = new Set<(data: Uint8Array) => void>();
  readonly serialInput: Buffer[] = [];
  readonly scancodes: number[] = [];
  /** How many times screen() was called (how often the display captured it). */
  screenReads = 0;

  constructor(lines: readonly string[] = [], columns = 80, rows = 25) {
    this.current = { mode: 'text', columns, rows, lines };
  }

  screen(): Screen {
    this.screenReads += 1;
    return this.current;
  }

  onScreenChange(listener: () => void): () => void {
    this.screenListeners.add(listener);
    return () => this.screenListeners.delete(listener);
  }

  onSerialOutput(listener: (data: Uint8Array) => void): () => void {
    this.serialListeners.add(listener);
    return () => this.serialListeners.delete(listener);
  }

  sendSerialInput(data: Uint8Array): void {
    this.serialInput.push(Buffer.from(data));
  }

  sendScancodes(codes: readonly number[]): void {
    this.scancodes.push(...codes);
  }

  get listenerCount(): number {
    return this.screenListeners.size + this.serialListeners.size;
  }

  serialInputText(): string {
    return Buffer.concat(this.serialInput).toString('utf8');
  }

  showText(lines: readonly string[], columns = 80, rows = 25): void {
    this.current = { mode: 'text', columns, rows, lines };
    this.screenChanged();
  }

  /** Switches to graphics mode with a black framebuffer (alpha 255, as v86 fills it). */
  showGraphics(width: number, height: number): Uint8Array {
    const rgba = new Uint8Array(width * height * 4);
    for (let i = 3; i < rgba.length; i += 4) rgba[i] = 255;
    this.current = { mode: 'graphics', width, height, rgba };
    this.screenChanged();
    return rgba;
  }

  fillRect(x: number, y: number, width: number, height: number, [r, g, b]: readonly [number, number, number]): void {
    if (this.current.mode !== 'graphics') throw new Error('fillRect needs graphics mode');
    const { rgba, width: stride } = this.current;
    for (let row = y; row < y + height; row++) {
      for (let column = x; column < x + width; column++) {
        rgba.set([r, g, b, 255], (row * stride + column) * 4);
      }
    }
    this.screenChanged();
  }

  serialOutput(text: string): void {
    const data = Buffer.from(text, 'utf8');
    for (const listener of this.serialListeners) listener(data);
  }

  private screenChanged(): void {
    for (const listener of this.screenListeners) listener();
  }
}
