import { resolveRelative, type BlockNode, type SnapshotInfo } from '@tessera/core';
import { snapshotJson, snapshotTable } from './snapshot-list.ts';
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
  readonly clusterSize?: number;
  readonly encrypted?: boolean;
  readonly backingFilename?: string;
  /** The backing file's name resolved against the image's own location. */
  readonly fullBackingFilename?: string;
  readonly backingFormat?: string;
  readonly snapshots?: readonly SnapshotInfo[];
  readonly formatSpecific?: { readonly type: string; readonly data: Readonly<Record<string, unknown>> };
}

/** `mapsDirectly`: the image's bytes are its storage's (raw, or storage opened alone; BlockLayer.mapsDirectly). */
export async function describeImage(node: BlockNode, mapsDirectly: boolean): Promise<ImageInfo> {
  const details = node.describe?.() ?? {};
  return {
    filename: imageName(node),
    format: node.driver,
    virtualSize: node.size,
    actualSize: await node.allocatedSize?.(),
    dirtyFlag: details.noDriverInfo ? undefined : mapsDirectly ? storageDirtyFlag(bottomNode(node)) : (details.dirty ?? false),
    clusterSize: details.clusterSize,
    ...(details.encrypted ? { encrypted: true } : {}),
    backingFilename: details.backingFile,
    fullBackingFilename: details.backingFile === undefined ? undefined : resolveRelative(node.filename, details.backingFile),
    backingFormat: details.backingFormat,
    snapshots: details.snapshots,
    formatSpecific: details.formatSpecific,
  };
}

/**
 * A format node over storage that only a json: pseudo-filename names (an iSCSI LUN) is named as
 * qemu names it: the format's driver and, as `file`, the storage's options.
 */
function imageName(node: BlockNode): string {
  const storage = node.child;
  if (storage && storage.filename === node.filename && storage.filename.startsWith('json:{')) {
    return `json:{"driver": ${JSON.stringify(node.driver)}, "file": ${storage.filename.slice('json:'.length)}}`;
  }
  return node.filename;
}

/**
 * qemu-img shows the dirty flag when bdrv_get_info answers: a format with metadata answers itself
 * (qcow2 over nbd:// or ssh:// too), raw asks its storage, and of the storages only local files
 * and iSCSI LUNs answer (their nodes' describe() gives `dirty`); nbd, ssh and http do not.
 */
function storageDirtyFlag(storage: BlockNode): boolean | undefined {
  return storage.driver === 'file' ? false : storage.describe?.().dirty;
}

function bottomNode(node: BlockNode): BlockNode {
  let current = node;
  while (current.child) current = current.child;
  return current;
}

/** The JSON object qemu-img prints, keys in qemu-img's order, unknown fields left out. */
export function infoJson(info: ImageInfo): Record<string, unknown> {
  const json: Record<string, unknown> = {};
  if (info.snapshots?.length) json.snapshots = info.snapshots.map(snapshotJson);
  if (info.backingFormat !== undefined) json['backing-filename-format'] = info.backingFormat;
  json['virtual-size'] = info.virtualSize;
  json.filename = info.filename;
  if (info.clusterSize !== undefined) json['cluster-size'] = info.clusterSize;
  json.format = info.format;
  if (info.actualSize !== undefined) json['actual-size'] = info.actualSize;
  if (info.formatSpecific !== undefined) json['format-specific'] = info.formatSpecific;
  if (info.encrypted) json.encrypted = true;
  if (info.fullBackingFilename !== undefined) json['full-backing-filename'] = info.fullBackingFilename;
  if (info.backingFilename !== undefined) json['backing-filename'] = info.backingFilename;
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
    // qemu-img's order: encrypted before cluster_size (qcow2 with encryption has both).
    ...(info.encrypted ? ['encrypted: yes'] : []),
    ...(info.clusterSize !== undefined ? [`cluster_size: ${info.clusterSize}`] : []),
    ...(info.backingFilename !== undefined
      ? [
          info.fullBackingFilename === info.backingFilename
            ? `backing file: ${info.backingFilename}`
            : `backing file: ${info.backingFilename} (actual path: ${info.fullBackingFilename})`,
        ]
      : []),
    ...(info.backingFormat !== undefined ? [`backing file format: ${info.backingFormat}`] : []),
    ...(info.snapshots?.length ? [`Snapshot list:\n${snapshotTable(info.snapshots).trimEnd()}`] : []),
    ...(info.formatSpecific !== undefined
      ? [
          'Format specific information:',
          ...humanFields(info.formatSpecific.data, 1),
        ]
      : []),
    '',
  ].join('\n');
}

/**
 * Format-specific fields as qemu-img's dump_qobject prints them: four spaces a level, `-` in keys
 * shown as spaces, objects and lists (vmdk's extents) nested under `key:` and `[i]:` lines.
 */
function humanFields(value: Readonly<Record<string, unknown>> | readonly unknown[], level: number): string[] {
  const indent = ' '.repeat(4 * level);
  const entries: Array<[string, unknown]> = Array.isArray(value)
    ? value.map((item, index) => [`[${index}]`, item])
    : Object.entries(value).map(([key, item]) => [key.replace(/-/g, ' '), item]);
  return entries.flatMap(([key, item]) =>
    item !== null && typeof item === 'object'
      ? [`${indent}${key}:`, ...humanFields(item as Record<string, unknown>, level + 1)]
      : [`${indent}${key}: ${String(item)}`],
  );
}

/** JSON as qemu-img prints it: four-space indentation, a final newline. */
export function formatJson(value: unknown): string {
  // qemu prints an empty list (a bitmap's flags) open and closed on two lines.
  return `${JSON.stringify(value, null, 4).replace(/^( *)(.*)\[\](,?)$/gm, '$1$2[\n$1]$3')}\n`;
}
