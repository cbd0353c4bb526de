import { resolveRelative, type BlockNode, type Host } from '@tessera/core';
import { ToolError, errorMessage } from '../cli/errors.ts';
import { formatNames } from './drivers.ts';

const PROBE_BYTES = 512;

/**
 * Open an image without opening its backing file (qemu's BDRV_O_NO_BACKING): for `rebase -u`,
 * which only rewrites the backing file's name and must work when the old one is gone. The node
 * standing in for the backing file refuses every read; a data file is opened as usual.
 */
export async function openWithoutBacking(host: Host, filename: string, format: string | undefined): Promise<BlockNode> {
  try {
    // The image locks of a writable image with metadata (the formats with backing files have some).
    const file = await host.block.openFile(filename, { readOnly: false, permissions: { use: ['consistent read', 'write', 'resize'], unshare: ['write', 'resize'] } });
    try {
      const driver = await host.block.formatDriver(format ?? (await probe(host, file)));
      return await driver.open(file, {
        readOnly: false,
        driverOptions: {},
        openRelative: async (name, options) =>
          options.protocolOnly ? host.block.openFile(resolveRelative(filename, name), { readOnly: options.readOnly }) : new UnopenedBacking(name),
      });
    } catch (error) {
      await file.close();
      throw error;
    }
  } catch (error) {
    throw new ToolError(`Could not open '${filename}': ${errorMessage(error)}`, 1, { cause: error });
  }
}

/** The format whose driver claims the file's first bytes most strongly. */
async function probe(host: Host, file: BlockNode): Promise<string> {
  const head = new Uint8Array(Math.min(PROBE_BYTES, file.size));
  if (head.length > 0) await file.read(0, head);
  let best: string | undefined;
  let bestScore = 0;
  for (const name of formatNames(host.list)) {
    const score = (await host.block.formatDriver(name)).probe?.(head, file.filename) ?? 0;
    if (score > bestScore) [best, bestScore] = [name, score];
  }
  if (best === undefined) throw new Error('Could not determine the image format');
  return best;
}

/** A backing file that was deliberately not opened. */
class UnopenedBacking implements BlockNode {
  readonly driver = 'none';
  readonly size = 0;
  readonly readOnly = true;
  constructor(readonly filename: string) {}
  read(): Promise<void> {
    return Promise.reject(new Error(`the backing file '${this.filename}' is not open`));
  }
  write(): Promise<void> {
    return Promise.reject(new Error(`the backing file '${this.filename}' is not open`));
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}
