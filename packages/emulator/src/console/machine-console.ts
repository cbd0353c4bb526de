import type { MachineConsole, Screen } from '@tessera/core';
import type { V86Emulator, VgaLayer } from '../machine/v86-internals.ts';
import { Framebuffer } from './framebuffer.ts';
import { TextScreen } from './text-screen.ts';

/** How often the graphics framebuffer is refreshed while a display watches it. */
const GRAPHICS_REFRESH_MS = 50;

/**
 * The running v86 machine as display front ends see it (core's MachineConsole): the VGA screen
 * (text from v86's bus events; graphics only when `captureGraphics` is on), COM1 and the keyboard.
 */
export class V86MachineConsole implements MachineConsole {
  private readonly text = new TextScreen();
  private readonly framebuffer = new Framebuffer();
  private mode: 'text' | 'graphics' = 'text';
  private readonly screenListeners = new Set<() => void>();
  private readonly serialListeners = new Set<(data: Uint8Array) => void>();
  private notifyPending = false;
  private refreshTimer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly emulator: V86Emulator,
    captureGraphics: boolean,
  ) {
    emulator.add_listener('screen-set-size', ([width, height, bpp]: [number, number, number]) => {
      this.mode = bpp === 0 ? 'text' : 'graphics';
      if (bpp === 0) this.text.resize(width, height);
      else this.framebuffer.resize(width, height);
      this.changed();
    });
    emulator.add_listener('screen-put-char', ([row, column, code]: [number, number, number]) => {
      this.text.put(row, column, code);
      this.changed();
    });
    emulator.add_listener('serial0-output-byte', (byte: number) => {
      if (this.serialListeners.size === 0) return;
      const data = Uint8Array.of(byte);
      for (const listener of this.serialListeners) listener(data);
    });
    if (captureGraphics) this.captureGraphics();
  }

  screen(): Screen {
    if (this.mode === 'graphics') {
      return { mode: 'graphics', width: this.framebuffer.width, height: this.framebuffer.height, rgba: this.framebuffer.rgba };
    }
    return { mode: 'text', columns: this.text.columns, rows: this.text.rows, lines: this.text.lines() };
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
    // serial0_send takes a string of byte values (one char per byte).
    this.emulator.serial0_send(String.fromCharCode(...data));
  }

  sendScancodes(codes: readonly number[]): void {
    this.emulator.keyboard_send_scancodes([...codes]);
  }

  close(): void {
    clearInterval(this.refreshTimer);
    this.screenListeners.clear();
    this.serialListeners.clear();
  }

  /** Route v86's framebuffer updates here and pull them while graphics mode is on. */
  private captureGraphics(): void {
    this.emulator.screen_adapter.update_buffer = (layers: readonly VgaLayer[]) => {
      if (this.framebuffer.draw(layers)) this.changed();
    };
    this.refreshTimer = setInterval(() => {
      if (this.mode === 'graphics' && this.screenListeners.size > 0) this.emulator.v86.cpu.devices.vga?.screen_fill_buffer();
    }, GRAPHICS_REFRESH_MS);
    this.refreshTimer.unref();
  }

  /** Coalesce a burst of changes (a screenful of characters) into one notification. */
  private changed(): void {
    if (this.notifyPending || this.screenListeners.size === 0) return;
    this.notifyPending = true;
    setTimeout(() => {
      this.notifyPending = false;
      for (const listener of this.screenListeners) listener();
    }, 16);
  }
}
