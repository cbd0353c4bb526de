import type { Feature } from '../module/types.ts';
import { BlockError } from './errors.ts';
import { protocolOf, resolveRelative } from './location.ts';
import { probeFormat } from './probe/probe.ts';
import { guardProbedRaw, probedRawWarning } from './probe/raw-guard.ts';
import { unsupportedFormat } from './probe/unsupported-format.ts';
import { checkRemoteReference } from './remote-backing.ts';
import { backingPermissions, defaultPermissions, sharingAll, storagePermissions } from './permissions.ts';
import { openSnapshotOverlay } from './snapshot-overlay.ts';
import { UnopenedBacking } from './unopened-backing.ts';
import { parseOpenOptions } from './options.ts';
import { SecretRegistry } from './secrets.ts';
import { sectorAligned } from './sector-view.ts';
import { withoutFlushes } from './unsafe-cache.ts';
import { recordCreation, recordWrites, WriteLog } from './write-log.ts';
import type { BlockDriverRegistry } from './registry.ts';
import type { BlockFormatDriver, BlockNode, BlockOptionSpec, BlockPermissions, BlockProtocolDriver, UserObject, WriteZeroesOptions } from './types.ts';

export interface OpenImageOptions {
  /** Format name (`-f`); probed from the file's first bytes when absent. */
  readonly format?: string;
  readonly readOnly?: boolean;
  /** Protocol driver name, when the caller names it (`--image-opts file.driver=…`). */
  readonly protocol?: string;
  /** Options for the protocol node (`file.*`). */
  readonly fileOptions?: Readonly<Record<string, string>>;
  /** Options for the format node. */
  readonly formatOptions?: Readonly<Record<string, string>>;
  /** The `--object`s defined, by id, given to the drivers of this image (not to its backing files). */
  readonly objects?: ReadonlyMap<string, UserObject>;
  /** Keep writes in a temporary overlay discarded at close (`snapshot=on`); the image is opened read-only. */
  readonly snapshot?: boolean;
  /**
   * qemu's cache mode (`-t`, `cache=`; default `writeback`). `unsafe` (qemu-img convert's default
   * for its target): the format driver's flushes of its storage, metadata ordering syncs
   * included, do nothing. Fast, but a crash of the host may leave the image inconsistent: only
   * for images thrown away when the writer fails. The other modes flush as asked.
   */
  readonly cache?: CacheMode;
  /** Opened for `check -r`: the format may accept for writing an image it refuses otherwise (marked corrupt). */
  readonly forRepair?: boolean;
  /** Opened for `bitmap`: the format may accept for writing an image whose bitmaps its writes would not keep. */
  readonly forBitmaps?: boolean;
  /** Leave the backing file unopened (qemu-img info's BDRV_O_NO_BACKING); a data file is opened as usual. */
  readonly withoutBacking?: boolean;
  /** Only metadata is read (qemu-img info's BDRV_O_NO_IO): an encrypted image opens without its key. */
  readonly metadataOnly?: boolean;
  /**
   * Image locks (QEMU's): what this opener does with the image and forbids others meanwhile.
   * Default: read, and write unless read-only; forbid nothing. A format with metadata adds its own
   * needs on its file; backing files get what QEMU gives them (permissions.ts).
   */
  readonly permissions?: BlockPermissions;
  /** `-U`: forbid nothing to other users of the image and its backing files (read-only opens only). */
  readonly forceShare?: boolean;
  /**
   * Override the backing file the image names (`--image-opts backing.*`, `json:{"backing":…}`):
   * null opens none (unallocated ranges read as zeroes), else this image is opened instead.
   */
  readonly backing?: BackingOverride | null;
}

/** The image opened as the backing file instead of the one the image names. */
export interface BackingOverride extends Pick<OpenImageOptions, 'format' | 'protocol' | 'fileOptions' | 'formatOptions' | 'backing'> {
  readonly location: string;
}

/** qemu's cache modes, as `-t` and `cache=` name them. */
export type CacheMode = 'none' | 'off' | 'writeback' | 'writethrough' | 'directsync' | 'unsafe';

const MAX_CHAIN_DEPTH = 64;

/** qemu-img's words for a backing chain that comes back to one of its images. */
function backingLoop(location: string): BlockError {
  return new BlockError(`Backing file '${location}' creates an infinite loop.`, { code: 'backing-loop' });
}

/** The backing-loop failure an error was caused by, if any. */
function backingLoopIn(error: unknown): BlockError | undefined {
  for (let at = error; at instanceof Error; at = at.cause) if (at instanceof BlockError && at.code === 'backing-loop') return at;
  return undefined;
}

/** The options among `options` that `specs` declares. */
function knownOptions(options: Readonly<Record<string, string>>, specs: readonly BlockOptionSpec[]): Record<string, string> {
  return Object.fromEntries(Object.entries(options).filter(([key]) => specs.some((spec) => spec.name === key)));
}

/** Largest zero buffer the write-zeroes fallback writes at once. */
const ZERO_BUFFER_SIZE = 1 << 20;

/**
 * Make `[offset, offset + length)` of `node` read as zeroes (qemu's write-zeroes): the node's own
 * way when it has one (zero clusters, holes), else zero buffers through its `write`, as qemu's
 * block layer falls back to a bounce buffer.
 */
export async function writeZeroes(node: BlockNode, offset: number, length: number, options: WriteZeroesOptions): Promise<void> {
  if (length <= 0) return;
  if (node.writeZeroes) return node.writeZeroes(offset, length, options);
  const zeroes = new Uint8Array(Math.min(length, ZERO_BUFFER_SIZE));
  for (let done = 0; done < length; done += zeroes.length) {
    await node.write(offset + done, zeroes.subarray(0, Math.min(zeroes.length, length - done)));
  }
}

/** How the layer reports to the user and what the user allowed (set by the Host). */
export interface BlockLayerSettings {
  /** Print a warning (qemu prints its block-layer warnings on stderr). */
  readonly warn?: (text: string) => void;
  /** The user allows remote images to name local backing and data files. */
  readonly allowLocalBackingOfRemote?: boolean;
}

/**
 * Opens and creates images: a protocol node for the storage, a format node on top. Drivers come
 * from the registry; a driver that is not registered yet is asked of the module system first, so
 * a loadable module loads only when the first image that needs it is opened.
 */
export class BlockLayer {
  /** TESSERA_WRITE_LOG: storage writes are logged for the crash tests (write-log.ts). */
  private readonly writeLog = WriteLog.fromEnvironment();
  /** The user's secrets (`--object secret`), handed to drivers at open and create. */
  private readonly secrets = new SecretRegistry();

  constructor(
    private readonly drivers: BlockDriverRegistry,
    /** Load the modules that provide a feature; false when no module on the list does. */
    private readonly requireFeature: (feature: Feature) => Promise<boolean>,
    private readonly settings: BlockLayerSettings = {},
  ) {}

  /** Define a secret (`--object secret,id=ID,…`) that drivers may ask for by `id` (a LUKS passphrase). */
  defineSecret(id: string, value: Uint8Array): void {
    this.secrets.define(id, value);
  }

  /**
   * Open the image at `location`: its format node over its protocol node, seen in whole sectors
   * as qemu's block layer sees every image (sector-view.ts).
   */
  async open(location: string, options: OpenImageOptions = {}): Promise<BlockNode> {
    const node = await this.openInChain(location, options, []);
    return sectorAligned(node, this.mapsDirectly(node));
  }

  /**
   * Whether `node`'s guest bytes are its storage's at the same offsets: storage opened alone, or
   * a format whose driver declares it (raw).
   */
  mapsDirectly(node: BlockNode): boolean {
    return node.child === undefined || (this.drivers.format(node.driver)?.capabilities?.directMapping ?? false);
  }

  /** The longest run `node` reports block status for in one piece, as its driver declares it (statusGranularity). */
  statusGranularity(node: BlockNode): number | undefined {
    return this.drivers.format(node.driver)?.statusGranularity?.(node);
  }

  /**
   * `above`: the storage identities of the images that opened this one as their backing file,
   * nearest last. A chain that comes back to one of them is refused once, by name, as qemu-img
   * info --backing-chain refuses it (and not by exhausting a depth limit).
   */
  private async openInChain(location: string, options: OpenImageOptions, above: readonly string[]): Promise<BlockNode> {
    const depth = above.length;
    // Told before opening: opening would take the image's locks, which the image above in the
    // chain (the same file, opened for writing) may forbid.
    if (depth > 0 && above.includes((await this.identify(location, options.protocol)) ?? '')) throw backingLoop(location);
    if (depth > MAX_CHAIN_DEPTH) {
      throw new BlockError(`Could not open '${location}': backing chain is deeper than ${MAX_CHAIN_DEPTH} images (a loop?)`);
    }
    const readOnly = (options.readOnly ?? false) || (options.snapshot ?? false);
    if (options.forceShare && !readOnly) throw new BlockError('force-share=on can only be used with read-only images');
    const formatName = options.format;
    const format = formatName === undefined ? undefined : await this.formatDriver(formatName);
    const formatOptions = options.formatOptions ?? {};
    const asked = options.permissions ?? defaultPermissions(options.readOnly ?? false);
    // With snapshot=on the image is the backing file of a temporary overlay, as in QEMU.
    const user = options.snapshot ? backingPermissions(asked) : asked;
    const storage = (name: string) => storagePermissions(user, name, readOnly);
    // A probed format's needs are known only after the probe (which only reads): locks are taken
    // as for raw at open, and raised to the format's once it is known.
    const file = await this.openStorage(location, { ...options, readOnly, permissions: storage(format?.name ?? 'raw') });
    const identity = file.identity ?? file.filename;
    let node: BlockNode;
    try {
      if (above.includes(identity)) throw backingLoop(location);
      // A named format's values are checked once its file is open (qemu says first that the file
      // cannot be opened); options no driver takes once its node is (qemu says first that the
      // image is not of the format), a probed format's all then.
      const driverOptions = format ? parseOpenOptions(format.name, knownOptions(formatOptions, format.openOptions ?? []), format.openOptions ?? []) : formatOptions;
      const driver = format ?? (await this.probeFormat(file, depth > 0 ? location : undefined));
      if (!format && driver.name !== 'raw') await file.setPermissions?.(options.forceShare ? sharingAll(storage(driver.name)) : storage(driver.name));
      // cache=unsafe, done here once: the storage ignores flushes, and the driver is told so it
      // may keep its metadata in memory until its own flush.
      const cacheUnsafe = options.cache === 'unsafe';
      node = await driver.open(cacheUnsafe ? withoutFlushes(file) : file, {
        readOnly,
        ...(cacheUnsafe ? { cacheUnsafe: true } : {}),
        ...(options.forRepair ? { forRepair: true } : {}),
        ...(options.metadataOnly ? { metadataOnly: true } : {}),
        secrets: this.secrets,
        ...(options.objects ? { objects: options.objects } : {}),
        ...(options.forBitmaps ? { forBitmaps: true } : {}),
        driverOptions,
        openRelative: (name, o) =>
          o.protocolOnly
            ? this.openRelativeFile(location, name, o.readOnly, { permissions: storage(driver.name), forceShare: options.forceShare ?? false })
            : options.withoutBacking || options.backing === null
              ? Promise.resolve(new UnopenedBacking(resolveRelative(location, name)))
              : options.backing
                ? this.openInChain(
                    options.backing.location,
                    { ...options.backing, readOnly: o.readOnly, ...(o.readOnly ? { permissions: backingPermissions(user), forceShare: options.forceShare ?? false } : {}) },
                    [...above, identity],
                  )
                : this.openInChain(
                  this.resolveReference(location, name, 'backing'),
                  {
                    ...(o.format ? { format: o.format } : {}),
                    readOnly: o.readOnly,
                    ...(o.readOnly ? { permissions: backingPermissions(user), forceShare: options.forceShare ?? false } : {}),
                  },
                  [...above, identity],
                ),
      });
    } catch (error) {
      await file.close();
      // Said once: not wrapped in every image's "Could not open backing file" on the way up.
      throw backingLoopIn(error) ?? error;
    }
    if (Object.keys(formatOptions).length > 0) {
      try {
        parseOpenOptions(node.driver, formatOptions, this.drivers.format(node.driver)?.openOptions ?? []);
      } catch (error) {
        await node.close();
        throw error;
      }
    }
    if (format === undefined && node.driver === 'raw') node = this.guardProbedRaw(location, node, readOnly);
    return options.snapshot ? openSnapshotOverlay(node) : node;
  }

  /** qemu's restrictions for a raw image whose format was probed: a warning when writable, a guarded first (and last) sector. */
  private guardProbedRaw(location: string, node: BlockNode, readOnly: boolean): BlockNode {
    if (!readOnly) this.settings.warn?.(probedRawWarning(location));
    return guardProbedRaw(node, this.drivers.signatures);
  }

  /** Open the storage of a file an image names (its data file), relative to the image's location. */
  async openRelativeFile(
    parent: string,
    name: string,
    readOnly: boolean,
    locking: Pick<OpenImageOptions, 'permissions' | 'forceShare'> = {},
  ): Promise<BlockNode> {
    return this.openStorage(this.resolveReference(parent, name, 'data'), { readOnly, ...locking });
  }

  /**
   * Where the backing file named `name` by the image at `parent` is, for callers that open a chain
   * one image at a time (info --backing-chain); a remote image may not name a local file.
   */
  backingLocation(parent: string, name: string): string {
    return this.resolveReference(parent, name, 'backing');
  }

  /** Where a name recorded in the image at `parent` points; a remote image may not name a local file. */
  private resolveReference(parent: string, name: string, role: 'backing' | 'data'): string {
    const resolved = resolveRelative(parent, name);
    checkRemoteReference(parent, name, resolved, role, this.settings.allowLocalBackingOfRemote ?? false);
    return resolved;
  }

  /** The identity storage at `location` has (BlockNode.identity), without opening it: a URL is its own. */
  private async identify(location: string, protocol: string | undefined): Promise<string | undefined> {
    const driver = await this.protocolDriver(protocol ?? protocolOf(location));
    return driver.identify ? driver.identify(location) : location;
  }

  /** Open the storage alone (`-f file`, `driver=http`), in whole sectors as `open` gives images. */
  async openFile(location: string, options: OpenImageOptions = {}): Promise<BlockNode> {
    return sectorAligned(await this.openStorage(location, options), true);
  }

  /** The protocol node of an image, a data file. */
  private async openStorage(location: string, options: OpenImageOptions): Promise<BlockNode> {
    const protocol = await this.protocolDriver(options.protocol ?? protocolOf(location));
    const driverOptions = options.fileOptions ?? {};
    if (location === '' && !protocol.addressedByOptions && driverOptions.filename === undefined) {
      throw new BlockError(`The '${protocol.name}' block driver requires a file name`, { code: 'invalid-option' });
    }
    for (const key of Object.keys(driverOptions)) {
      if (!protocol.options?.includes(key)) {
        throw new BlockError(`Block protocol '${protocol.name}' doesn't support the option '${key}'`, { code: 'invalid-option' });
      }
    }
    const permissions = options.permissions ?? defaultPermissions(options.readOnly ?? false);
    const node = await protocol.open(location, {
      readOnly: options.readOnly ?? false,
      driverOptions,
      permissions: options.forceShare ? sharingAll(permissions) : permissions,
      ...(options.objects ? { objects: options.objects } : {}),
      secrets: this.secrets,
    });
    return this.writeLog ? recordWrites(node, this.writeLog) : node;
  }

  /**
   * Create an image of `size` bytes in `format`, `formatOptions` checked by the caller against the
   * driver's `createOptions` (parseBlockOptions). A file the image names (its data file) is made
   * by `createRelative`, given its location (default: empty storage of the size).
   */
  async create(
    location: string,
    formatName: string,
    size: number,
    formatOptions: Readonly<Record<string, string>> = {},
    createRelative?: (location: string, size: number) => Promise<void>,
  ): Promise<void> {
    const format = await this.formatDriver(formatName);
    for (const key of Object.keys(formatOptions)) {
      if (!format.createOptions?.some((option) => option.name === key)) {
        throw new BlockError(`Invalid parameter '${key}' for format '${format.name}'`, { code: 'invalid-option' });
      }
    }
    const protocol = await this.protocolDriver(protocolOf(location));
    if (!protocol.create) {
      throw new BlockError(`Protocol driver '${protocol.name}' does not support image creation`, { code: 'unsupported-operation' });
    }
    if (!format.create && !format.capabilities?.directMapping) {
      throw new BlockError(`Format driver '${format.name}' does not support image creation`, { code: 'unsupported-operation' });
    }
    format.checkCreate?.({ size, formatOptions, secrets: this.secrets });
    await protocol.create(location, format.create ? 0 : size);
    if (this.writeLog) recordCreation(this.writeLog, location, format.create ? 0 : size);
    if (!format.create) return;
    const opened = await protocol.open(location, { readOnly: false, driverOptions: {}, permissions: storagePermissions(defaultPermissions(false), format.name, false) });
    const file = this.writeLog ? recordWrites(opened, this.writeLog) : opened;
    try {
      await format.create(file, {
        size,
        formatOptions,
        secrets: this.secrets,
        createRelative: async (name, bytes) => {
          const resolved = resolveRelative(location, name);
          if (createRelative) return createRelative(resolved, bytes);
          await this.create(resolved, 'raw', bytes);
        },
        openRelative: (name, o) =>
          o.protocolOnly ? this.openRelativeFile(location, name, o.readOnly) : this.open(this.resolveReference(location, name, 'backing'), { ...(o.format ? { format: o.format } : {}), readOnly: o.readOnly }),
      });
    } finally {
      await file.close();
    }
  }

  /**
   * The creation options of the protocol storing `location` (the file protocol's preallocation,
   * nocow, …); none when its driver cannot be had (creating there then reports why).
   */
  async protocolCreateOptions(location: string): Promise<readonly BlockOptionSpec[]> {
    try {
      return (await this.protocolDriver(protocolOf(location))).createOptions ?? [];
    } catch {
      return [];
    }
  }

  async formatDriver(name: string): Promise<BlockFormatDriver> {
    const driver = await this.findFormatDriver(name);
    if (!driver) throw new BlockError(`Unknown driver '${name}'`);
    return driver;
  }

  private async findFormatDriver(name: string): Promise<BlockFormatDriver | undefined> {
    return (
      this.drivers.format(name) ??
      ((await this.requireFeature(`block-format:${name}`)) ? this.drivers.format(name) : undefined)
    );
  }

  private async protocolDriver(scheme: string): Promise<BlockProtocolDriver> {
    const driver =
      this.drivers.protocol(scheme) ??
      ((await this.requireFeature(`block-protocol:${scheme}`)) ? this.drivers.protocol(scheme) : undefined);
    if (!driver) throw new BlockError(`Unknown protocol '${scheme}'`);
    return driver;
  }

  /**
   * The driver for the format `file`'s content shows (the signatures the modules declare and
   * core's table, as qemu-img probes, and stricter); only the module providing it loads. An image in a format without a driver here is refused by name, never
   * read as raw. `location` names the image in the message when it is not the one the user named.
   */
  async probeFormat(file: BlockNode, location?: string): Promise<BlockFormatDriver> {
    const name = await probeFormat(file, this.drivers.signatures);
    const driver = await this.findFormatDriver(name);
    if (driver) return driver;
    throw unsupportedFormat(name, location);
  }
}
