/** QMP events: QEMU's `{"event", "data", "timestamp"}` messages, fanned out to every QMP session. */
export interface QmpEvent {
  readonly event: string;
  readonly data?: Record<string, unknown>;
  readonly timestamp: { readonly seconds: number; readonly microseconds: number };
}

export class EventHub {
  private readonly listeners = new Set<(event: QmpEvent) => void>();

  emit(event: string, data?: Record<string, unknown>): void {
    const now = Date.now() * 1000 + Math.floor((performance.now() % 1) * 1000);
    const message: QmpEvent = {
      timestamp: { seconds: Math.floor(now / 1e6), microseconds: now % 1e6 },
      event,
      ...(data ? { data } : {}),
    };
    for (const listener of this.listeners) listener(message);
  }

  subscribe(listener: (event: QmpEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
