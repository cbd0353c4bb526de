/** A display front end (`-display NAME`), registered by ui modules. The machine issue fills in its hooks. */
export interface DisplayBackend {
  readonly name: string;
  /** `-display NAME,key=value,…` options it accepts. */
  readonly options?: readonly string[];
  open(options: Readonly<Record<string, string>>): Promise<DisplaySession>;
}

export interface DisplaySession {
  close(): Promise<void>;
}

export interface UiRegistrar {
  registerDisplay(backend: DisplayBackend): void;
}
