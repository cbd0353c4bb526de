import type { BlockNode } from './types.ts';

/**
 * `node` with flush() turned into a no-op (qemu's cache=unsafe): everything else, optional
 * operations and live getters such as `size` included, is the node's own.
 */
export function withoutFlushes(node: BlockNode): BlockNode {
  const skip = async (): Promise<void> => {};
  // Bound once per method: a hot path (every write) should not allocate a closure per call.
  const bound = new Map<PropertyKey, { method: unknown; call: unknown }>();
  return new Proxy(node, {
    get(target, key) {
      if (key === 'flush') return skip;
      const value: unknown = Reflect.get(target, key, target);
      if (typeof value !== 'function') return value;
      const known = bound.get(key);
      if (known?.method === value) return known.call;
      const call: unknown = value.bind(target);
      bound.set(key, { method: value, call });
      return call;
    },
  });
}
