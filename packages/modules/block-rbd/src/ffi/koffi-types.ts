// The few parts of koffi's native API this module uses (koffi's own JavaScript wrapper is not
// bundled: it finds its addon through require(), which a verified module must not do).

export interface KoffiFunction {
  (...args: unknown[]): unknown;
  /** Run the call on a libuv worker thread; `callback(error, result)` on the main thread. */
  async(...args: unknown[]): void;
}

export interface KoffiLibrary {
  func(prototype: string): KoffiFunction;
  unload?(): void;
}

export interface Koffi {
  load(path: string): KoffiLibrary;
  struct(name: string, members: Record<string, string>): unknown;
  proto(prototype: string): unknown;
  decode(value: unknown, offset: number, type: unknown, length?: number): unknown;
  sizeof(type: unknown): number;
  readonly version: string;
}
