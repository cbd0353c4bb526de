/**
 * qemu's `json:{…}` pseudo-filename: when an image is opened with options that change what it
 * shows (its driver marks them `strong`: raw's offset and size), its filename alone no longer
 * names it, and `qemu-img info` prints the options instead. qemu prints its option dictionary in
 * the order of its hash table's buckets, reproduced here so the text is the same.
 */
import { protocolOf, type BlockNode, type Host } from '@tessera/core';
import type { ImageSpec } from './spec.ts';

/** The pseudo-filename of `node` opened from `spec`; undefined when its filename names it. */
export async function pseudoFilename(host: Host, spec: ImageSpec, node: BlockNode): Promise<string | undefined> {
  if (node.child === undefined || spec.location === undefined) return undefined;
  const driver = await host.block.formatDriver(node.driver).catch(() => undefined);
  const strong = (driver?.openOptions ?? []).filter((option) => option.strong && spec.formatOptions[option.name] !== undefined);
  if (strong.length === 0) return undefined;
  const protocol = spec.protocol ?? protocolOf(spec.location);
  const file: Record<string, unknown> = { driver: protocol, [protocol === 'file' ? 'filename' : 'url']: spec.location };
  const options: Record<string, unknown> = { driver: node.driver, file };
  for (const option of strong) options[option.name] = spec.formatOptions[option.name];
  return `json:${qdictJson(options)}`;
}

/** qemu's compact JSON of a dictionary: `{"key": value, …}` in its hash table's order. */
function qdictJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const keys = Object.keys(value).sort((a, b) => bucketOf(a) - bucketOf(b));
  return `{${keys.map((key) => `${JSON.stringify(key)}: ${qdictJson((value as Record<string, unknown>)[key])}`).join(', ')}}`;
}

/** The bucket of qemu's QDict (512 buckets) a key lands in: its tdb-style string hash. */
function bucketOf(key: string): number {
  let hash = Math.imul(0x238f13af, key.length) >>> 0;
  for (let i = 0; i < key.length; i++) hash = (hash + (key.charCodeAt(i) << ((i * 5) % 24))) >>> 0;
  return ((Math.imul(1103515243, hash) + 12345) >>> 0) % 512;
}
