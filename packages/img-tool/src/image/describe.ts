import type { BlockNode } from '@tessera/core';
import { formatHumanSize } from './human-size.ts';

/** What `info` reports about an image (qemu-img's ImageInfo, the fields raw images have). */
export interface ImageInfo {
  readonly filename: string;
  readonly format: string;
  readonly virtualSize: number;
  /** Bytes allocated on the storage; unknown for remote images. */
  readonly actualSize?: number;
  /** Present when the storage can report it (local files): raw images are never dirty. */
  readonly dirtyFlag?: boolean;
}

export async function describeImage(node: BlockNode): Promise<ImageInfo> {
  const storage = bottomNode(node);
  return {
    filename: node.filename,
    format: node.driver,
    virtualSize: node.size,
    actualSize: await node.allocatedSize?.(),
    dirtyFlag: storage.driver === 'file' ? false : undefined,
  };
}

function bottomNode(node: BlockNode): BlockNode {
  let current = node;
  while (current.child) current = current.child;
  return current;
}

/** The JSON object qemu-img prints, keys in qemu-img's order, unknown fields left out. */
export function infoJson(info: ImageInfo): Record<string, unknown> {
  const json: Record<string, unknown> = {
    'virtual-size': info.virtualSize,
    filename: info.filename,
    format: info.format,
  };
  if (info.actualSize !== undefined) json['actual-size'] = info.actualSize;
  if (info.dirtyFlag !== undefined) json['dirty-flag'] = info.dirtyFlag;
  return json;
}

export function infoHuman(info: ImageInfo): string {
  const diskSize = info.actualSize === undefined ? 'unavailable' : formatHumanSize(info.actualSize);
  return [
    `image: ${info.filename}`,
    `file format: ${info.format}`,
    `virtual size: ${formatHumanSize(info.virtualSize)} (${info.virtualSize} bytes)`,
    `disk size: ${diskSize}`,
    '',
  ].join('\n');
}

/** JSON as qemu-img prints it: four-space indentation, a final newline. */
export function formatJson(value: unknown): string {
  return `${JSON.stringify(value, null, 4)}\n`;
}
