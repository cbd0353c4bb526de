import type { Writable } from 'node:stream';

/** Streams corked until the next tick by corkForTick. */
const corked = new WeakSet<Writable>();

/**
 * Cork `stream` until the next tick: everything written to it in this turn of the event loop
 * (the parts of one large read or write, a PDU and its data) leaves in one writev, not a syscall
 * each, and a payload is not copied to join its header.
 */
export function corkForTick(stream: Writable): void {
  if (corked.has(stream)) return;
  corked.add(stream);
  stream.cork();
  process.nextTick(() => {
    corked.delete(stream);
    stream.uncork();
  });
}
