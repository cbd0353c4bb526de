import type { Feature } from '../module/types.ts';
import { BlockError } from './errors.ts';
import { protocolOf, resolveRelative } from './location.ts';
import { backingPermissions, defaultPermissions, sharingAll, storagePermissions } from './permissions.ts';
import { openSnapshotOverlay } from './snapshot-overlay.ts';
import { withoutFlushes } from './unsafe-cache.ts';
import type { BlockDriverRegistry } from './registry.ts';
import type { BlockFormatDriver, BlockNode, BlockPermissions, BlockProtocolDriver } from './types.ts';

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
  /** Keep writes in a temporary overlay discarded at close (`snapshot=on`); the image is opened read-only. */
  readonly snapshot?: boolean;
  /**
   * qemu's `cache=unsafe` (qemu-img convert's default for its target): the format driver's
   * flushes of its storage, metadata ordering syncs included, do nothing. Fast, but a crash of
   * the host may leave the image inconsistent: only for images thrown away when the writer fails.
   */
  readonly cacheUnsafe?: boolean;
  /** Opened for `check -r`: the format may accept for writing an image it refuses otherwise (marked corrupt). */
  readonly forRepair?: boolean;
  /**
   * Image locks (QEMU's): what this opener does with the image and forbids others meanwhile.
   * Default: read, and write unless read-only; forbid nothing. A format with metadata adds its own
   * needs on its file; backing files get what QEMU gives them (permissions.ts).
   */
  readonly permissions?: BlockPermissions;
  /** `-U`: forbid nothing to other users of the image and its backing files (read-only opens only). */
  readonly forceShare?: boolean;
}

const PROBE_BYTES = 512;
const MAX_CHAIN_DEPTH = 64;

/**
 * Opens and creates images: a protocol node for the storage, a format node on top. Drivers come
 * from the registry; a driver that is not registered yet is asked of the module system first, so
 * a loadable module loads only when the first image that needs it is opened.
 */
export class BlockLayer {
  constructor(
    private readonly drivers: BlockDriverRegistry,
    /** Load the modules that provide a feature; false when no module on the list does. */
    private readonly requireFeature: (feature: Feature) => Promise<boolean>,
  ) {}

  open(location: string, options: OpenImageOptions = {}): Promise<BlockNode> {
    return this.openInChain(location, options, 0);
  }

  /** `depth`: how many images opened this one as their backing file (a loop must end somewhere). */
  private async openInChain(location: string, options: OpenImageOptions, depth: number): Promise<BlockNode> {
    if (depth > MAX_CHAIN_DEPTH) {
      throw new BlockError(`Could not open '${location}': backing chain is deeper than ${MAX_CHAIN_DEPTH} images (a loop?)`);
    }
    const readOnly = (options.readOnly ?? false) || (options.snapshot ?? false);
    if (options.forceShare && !readOnly) throw new BlockError('force-share=on can only be used with read-only images');
    const formatName = options.format;
    const format = formatName === undefined ? undefined : await this.formatDriver(formatName);
    const asked = options.permissions ?? defaultPermissions(options.readOnly ?? false);
    // With snapshot=on the image is the backing file of a temporary overlay, as in QEMU.
    const user = options.snapshot ? backingPermissions(asked) : asked;
    const storage = (name: string) => storagePermissions(user, name, readOnly);
    // A probed format's needs are known only after the probe (which only reads): locks are taken
    // as for raw at open, and raised to the format's once it is known.
    const file = await this.openFile(location, { ...options, readOnly, permissions: storage(format?.name ?? 'raw') });
    let node: BlockNode;
    try {
      const driver = format ?? (await this.probe(file));
      if (!format && driver.name !== 'raw') await file.setPermissions?.(options.forceShare ? sharingAll(storage(driver.name)) : storage(driver.name));
      node = await driver.open(options.cacheUnsafe ? withoutFlushes(file) : file, {
        readOnly,
        ...(options.cacheUnsafe ? { cacheUnsafe: true } : {}),
        ...(options.forRepair ? { forRepair: true } : {}),
        driverOptions: options.formatOptions ?? {},
        openRelative: (name, o) =>
          o.protocolOnly
            ? this.openFile(resolveRelative(location, name), { readOnly: o.readOnly, permissions: storage(driver.name), forceShare: options.forceShare ?? false })
            : this.openInChain(
                resolveRelative(location, name),
                {
                  ...(o.format ? { format: o.format } : {}),
                  readOnly: o.readOnly,
                  ...(o.readOnly ? { permissions: backingPermissions(user), forceShare: options.forceShare ?? false } : {}),
                },
                depth + 1,
              ),
      });
    } catch (error) {
      await file.close();
      throw error;
    }
    return options.snapshot ? openSnapshotOverlay(node) : node;
  }

  /** Open the storage alone (the image's protocol node). */
  async openFile(location: string, options: OpenImageOptions = {}): Promise<BlockNode> {
    const protocol = await this.protocolDriver(options.protocol ?? protocolOf(location));
    const driverOptions = options.fileOptions ?? {};
    for (const key of Object.keys(driverOptions)) {
      if (!protocol.options?.includes(key)) {
        throw new BlockError(`Block protocol '${protocol.name}' doesn't support the option '${key}'`);
      }
    }
    const permissions = options.permissions ?? defaultPermissions(options.readOnly ?? false);
    return protocol.open(location, { readOnly: options.readOnly ?? false, driverOptions, permissions: options.forceShare ? sharingAll(permissions) : permissions });
  }

  /** Create an image of `size` bytes in `format`. */
  async create(
    location: string,
    formatName: string,
    size: number,
    formatOptions: Readonly<Record<string, string>> = {},
  ): Promise<void> {
    const format = await this.formatDriver(formatName);
    for (const key of Object.keys(formatOptions)) {
      if (!format.createOptions?.includes(key)) {
        throw new BlockError(`Invalid parameter '${key}' for format '${format.name}'`);
      }
    }
    const protocol = await this.protocolDriver(protocolOf(location));
    if (!protocol.create) throw new BlockError(`Protocol driver '${protocol.name}' does not support image creation`);
    await protocol.create(location, format.create ? 0 : size);
    if (!format.create) return;
    const file = await protocol.open(location, { readOnly: false, driverOptions: {}, permissions: storagePermissions(defaultPermissions(false), format.name, false) });
    try {
      await format.create(file, { size, formatOptions });
    } finally {
      await file.close();
    }
  }

  async formatDriver(name: string): Promise<BlockFormatDriver> {
    const driver =
      this.drivers.format(name) ??
      ((await this.requireFeature(`block-format:${name}`)) ? this.drivers.format(name) : undefined);
    if (!driver) throw new BlockError(`Unknown driver '${name}'`);
    return driver;
  }

  private async protocolDriver(scheme: string): Promise<BlockProtocolDriver> {
    const driver =
      this.drivers.protocol(scheme) ??
      ((await this.requireFeature(`block-protocol:${scheme}`)) ? this.drivers.protocol(scheme) : undefined);
    if (!driver) throw new BlockError(`Unknown protocol '${scheme}'`);
    return driver;
  }

  /** The registered format that claims the file most strongly. */
  private async probe(file: BlockNode): Promise<BlockFormatDriver> {
    const head = new Uint8Array(Math.min(PROBE_BYTES, file.size));
    if (head.length > 0) await file.read(0, head);
    let best: BlockFormatDriver | undefined;
    let bestScore = 0;
    for (const driver of this.drivers.allFormats()) {
      const score = driver.probe?.(head, file.filename) ?? 0;
      if (score > bestScore) [best, bestScore] = [driver, score];
    }
    if (!best) throw new BlockError('Could not determine the image format');
    return best;
  }
}
