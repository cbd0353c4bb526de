import { protocolOf, type BlockNode, type BlockPermissions, type CacheMode, type Host } from '@tessera/core';
import { ToolError, errorMessage } from '../cli/errors.ts';
import { protocolNames } from './drivers.ts';
import { errnoCode } from './errno.ts';
import { definedObjects } from '../objects/user-objects.ts';
import { parseImageOpts } from './image-opts.ts';
import { isJsonFilename, jsonFilenameOptions } from './json-filename.ts';
import { splitNodeOptions } from './node-options.ts';
import type { ImageSource, ImageSpec } from './spec.ts';

export interface OpenOptions {
  readonly readOnly: boolean;
  /** Exit code when the image cannot be opened (compare uses 2). */
  readonly exitCode?: number;
  /** qemu's cache mode for a written image (`unsafe`: the format's flushes and syncs are skipped). */
  readonly cache?: CacheMode;
  /** Opened for `check -r` (an image marked corrupt may be opened for writing, to be repaired). */
  readonly forRepair?: boolean;
  /** Opened for `bitmap` (an image with bitmaps may be opened for writing, to change them). */
  readonly forBitmaps?: boolean;
  /** Leave the backing file unopened, as `qemu-img info` does. */
  readonly withoutBacking?: boolean;
  /** Only metadata is read (`info`): an encrypted image opens without its key, as qemu-img's BDRV_O_NO_IO. */
  readonly metadataOnly?: boolean;
  /** Image locks: what the command does with the image and forbids others (qemu-img's, per command); default: read (and write), forbid nothing. */
  readonly permissions?: BlockPermissions;
  /** `-U`: forbid nothing to others. */
  readonly forceShare?: boolean;
}

/** qemu-img `info`: reads no data (QEMU's BDRV_O_NO_IO), so it locks only what the format forbids others. */
export const METADATA_ONLY: BlockPermissions = { use: [], unshare: [] };
/** A `convert` source: nobody may change it while it is copied. */
export const STABLE_SOURCE: BlockPermissions = { use: ['consistent read'], unshare: ['write', 'resize'] };

/**
 * Open an image named on the command line: format node over protocol node, or the protocol
 * node alone when the format named is a protocol (`-f file`, `driver=http`). Failures become
 * qemu-img's "Could not open 'NAME': reason".
 */
export async function openImage(host: Host, source: ImageSource, options: OpenOptions): Promise<BlockNode> {
  try {
    const spec = resolveSource(source);
    return await openSpec(host, spec, options);
  } catch (error) {
    throw new ToolError(couldNotOpen(source.filename, error), options.exitCode ?? 1, { cause: error });
  }
}

/**
 * "Could not open 'NAME': reason", once. A driver's own message may already say it (a corrupt
 * header, an http failure): it is not said twice. Only a local file the system refuses to
 * open reads "Could not open 'NAME': Could not open 'NAME': No such file or directory", as
 * qemu-img's does (its file driver and its block layer each say it).
 */
export function couldNotOpen(filename: string, error: unknown): string {
  const message = errorMessage(error);
  // Said as qemu-img info --backing-chain says it, alone.
  if ((error as { code?: unknown }).code === 'backing-loop') return message;
  const prefix = `Could not open '${filename}': `;
  const fromLocalOpen = errnoCode(error) !== undefined && protocolOf(filename) === 'file';
  return message.startsWith(prefix) && !fromLocalOpen ? message : prefix + message;
}

export function resolveSource(source: ImageSource): ImageSpec {
  if (source.imageOpts) return parseImageOpts(source.filename);
  if (isJsonFilename(source.filename)) {
    // `-f` names the format whatever the JSON says, as qemu-img's.
    const spec = parseImageOpts(jsonFilenameOptions(source.filename));
    return source.format === undefined ? spec : { ...spec, format: source.format };
  }
  return {
    location: source.filename,
    format: source.format,
    protocol: undefined,
    fileOptions: {},
    formatOptions: source.formatOptions ?? {},
    hasFile: true,
  };
}

async function openSpec(host: Host, spec: ImageSpec, options: OpenOptions): Promise<BlockNode> {
  const { cache, forRepair, forBitmaps, withoutBacking, metadataOnly, permissions } = options;
  const node = splitNodeOptions(spec, withoutBacking ?? false);
  const readOnly = options.readOnly || node.readOnly;
  const forceShare = (options.forceShare ?? false) || node.forceShare;
  const objects = definedObjects();
  const locking = { ...(permissions ? { permissions } : {}), ...(forceShare ? { forceShare } : {}), ...(objects ? { objects } : {}) };
  if (spec.format !== undefined && protocolNames(host.list).includes(spec.format)) {
    // The storage itself, no format layer (`driver=file,filename=…`, `-f file`).
    const { filename, url, ...protocolOptions } = node.formatOptions;
    // No location: the driver finds the storage in its options (`server.host`, `portal`, `pool`), or
    // core says it needs a file name.
    const location = spec.location ?? filename ?? url ?? '';
    return host.block.openFile(location, { protocol: spec.format, readOnly, fileOptions: protocolOptions, ...locking });
  }
  if (spec.location === undefined && (spec.protocol === undefined || spec.protocol === 'file')) throw new Error('A block device must be specified for "file"');
  const location = spec.location ?? '';
  const scheme = protocolOf(location);
  if (spec.protocol !== undefined && scheme !== 'file' && scheme !== spec.protocol) {
    throw new Error(`${spec.protocol} driver cannot handle the URL '${location}' (does not start with '${spec.protocol}://')`);
  }
  // The format's options are checked by the block layer against its driver's schema.
  return host.block.open(location, {
    format: spec.format,
    readOnly,
    protocol: spec.protocol,
    fileOptions: spec.fileOptions,
    formatOptions: node.formatOptions,
    ...(node.backing !== undefined ? { backing: node.backing } : {}),
    ...(cache ? { cache } : {}),
    ...(forRepair ? { forRepair } : {}),
    ...(forBitmaps ? { forBitmaps } : {}),
    ...(withoutBacking ? { withoutBacking } : {}),
    ...(metadataOnly ? { metadataOnly } : {}),
    ...locking,
  });
}
