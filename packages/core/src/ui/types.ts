/** What a display front end shows: the VGA text screen or its graphics framebuffer. */
export type Screen =
  | {
      readonly mode: 'text';
      readonly columns: number;
      readonly rows: number;
      /** One string per row, already mapped from the VGA code page to Unicode. */
      readonly lines: readonly string[];
    }
  | {
      readonly mode: 'graphics';
      readonly width: number;
      readonly height: number;
      /** width × height × 4 bytes, RGBA. */
      readonly rgba: Uint8Array;
    };

/**
 * The running machine as a display front end sees it: its screen, its serial console and its
 * keyboard. The emulator implements it; ui modules use it.
 */
export interface MachineConsole {
  screen(): Screen;
  /** Called (coalesced) after the screen's content or mode changed; returns an unsubscribe function. */
  onScreenChange(listener: () => void): () => void;
  /** Bytes the guest wrote to its first serial port. */
  onSerialOutput(listener: (data: Uint8Array) => void): () => void;
  /** Bytes typed into the guest's first serial port. */
  sendSerialInput(data: Uint8Array): void;
  /** PS/2 scancode set 1 bytes (make and break codes, with 0xe0 prefixes) into the keyboard. */
  sendScancodes(codes: readonly number[]): void;
}

/** A display front end (`-display NAME,key=value,…`), registered by ui modules. */
export interface DisplayBackend {
  readonly name: string;
  /** `-display NAME,key=value,…` options it accepts. */
  readonly options?: readonly string[];
  open(machine: MachineConsole, options: Readonly<Record<string, string>>): Promise<DisplaySession>;
}

export interface DisplaySession {
  /** A line telling the user where the display is (e.g. the URL to open), printed at start. */
  readonly message?: string;
  close(): Promise<void>;
}

export interface UiRegistrar {
  registerDisplay(backend: DisplayBackend): void;
}
