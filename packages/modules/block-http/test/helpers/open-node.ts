import type { BlockNode } from '@tessera/core';
import { httpProtocol } from '../../src/http-protocol.ts';

const opened: BlockNode[] = [];

/** Open `url` read-only with the given driver options; the node is closed by closeOpenedNodes(). */
export async function openImage(url: string, driverOptions: Record<string, string> = {}): Promise<BlockNode> {
  const node = await httpProtocol.open(url, { readOnly: true, driverOptions });
  opened.push(node);
  return node;
}

export async function closeOpenedNodes(): Promise<void> {
  await Promise.all(opened.splice(0).map((node) => node.close()));
}

/** Read `length` bytes at `offset` into a fresh buffer. */
export async function readAt(node: BlockNode, offset: number, length: number): Promise<Buffer> {
  const into = Buffer.alloc(length);
  await node.read(offset, into);
  return into;
}

/** The rejection of `promise` (failing the test if it resolves), with how long it took. */
export async function rejectionOf(promise: Promise<unknown>): Promise<{ error: Error; seconds: number }> {
  const started = performance.now();
  try {
    await promise;
  } catch (error) {
    return { error: error as Error, seconds: (performance.now() - started) / 1000 };
  }
  throw new Error('expected the operation to fail, but it succeeded');
}
