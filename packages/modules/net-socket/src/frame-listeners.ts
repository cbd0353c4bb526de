/** The onReceive listeners of one port: every received frame goes to each of them. */
export class FrameListeners {
  private readonly listeners: ((frame: Uint8Array) => void)[] = [];

  add(listener: (frame: Uint8Array) => void): void {
    this.listeners.push(listener);
  }

  deliver(frame: Uint8Array): void {
    for (const listener of this.listeners) listener(frame);
  }
}
