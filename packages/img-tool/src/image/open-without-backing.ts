import { type BlockNode, type Host } from '@tessera/core';
import { ToolError, errorMessage } from '../cli/errors.ts';

/**
 * Open an image without opening its backing file (qemu's BDRV_O_NO_BACKING): for `rebase -u`,
 * which only rewrites the backing file's name and must work when the old one is gone. The node
 * standing in for the backing file refuses every read; a data file is opened as usual. The
 * format, when not named, is probed by the block layer (as for every other open).
 */
export async function openWithoutBacking(host: Host, filename: string, format: string | undefined): Promise<BlockNode> {
  try {
    const file = await host.block.openFile(filename, { readOnly: false });
    try {
      const driver = format !== undefined ? await host.block.formatDriver(format) : await host.block.probeFormat(file);
      return await driver.open(file, {
        readOnly: false,
        driverOptions: {},
        openRelative: async (name, options) =>
          options.protocolOnly ? host.block.openRelativeFile(filename, name, options.readOnly) : new UnopenedBacking(name),
      });
    } catch (error) {
      await file.close();
      throw error;
    }
  } catch (error) {
    throw new ToolError(`Could not open '${filename}': ${errorMessage(error)}`, 1, { cause: error });
  }
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
