import type { BlockOptionSpec } from '@tessera/core';
import { codedError } from '@tessera/module-kit/coded-error';
import { SECTOR } from './layout.ts';

/** qemu's default: the file grows 128 MiB ahead of the data. */
const DEFAULT_PREALLOC_SIZE = 128 * 2 ** 20;
const MODES = ['falloc', 'truncate'] as const;

/** The parallels driver's open options as qemu 7.2 takes them (`--image-opts driver=parallels,prealloc-size=…`). */
export const openOptionTable: readonly BlockOptionSpec[] = [
  { name: 'prealloc-size', type: 'size', description: 'Preallocation size on image expansion', default: DEFAULT_PREALLOC_SIZE },
  { name: 'prealloc-mode', type: 'str', description: 'Preallocation mode on image expansion (allowed values: falloc, truncate)', default: 'falloc' },
];

export interface Preallocation {
  readonly mode: (typeof MODES)[number];
  /** How far beyond a new cluster the file is grown when a write reaches its end: at least one cluster, whole sectors. */
  readonly bytes: number;
}

/** The open options' values (core has checked the size's syntax), with qemu's words for a bad mode. */
export function parsePreallocation(options: Readonly<Record<string, string>>, clusterSize: number): Preallocation {
  const mode = options['prealloc-mode'] ?? 'falloc';
  if (!(MODES as readonly string[]).includes(mode)) throw codedError(`invalid parameter value: ${mode}`, 'invalid-option');
  const size = Number(options['prealloc-size'] ?? DEFAULT_PREALLOC_SIZE);
  return { mode: mode as Preallocation['mode'], bytes: Math.max(clusterSize, Math.floor(size / SECTOR) * SECTOR) };
}
