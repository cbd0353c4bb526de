import type { BlockNode } from './types.ts';

/**
 * `node` with flush() turned into a no-op (qemu's cache=unsafe): everything else, optional
 * operations and live getters such as `size` included, is the node's own.
 */
export function withoutFlushes(node: BlockNode): BlockNode {
  const skip = async (): Promise<void> => {};
  return new Proxy(node, {
    get(target, key) {
      if (key === 'flush') return skip;
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
