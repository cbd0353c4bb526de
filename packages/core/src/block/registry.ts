import { signatureTable, type SignatureTable } from './probe/signatures.ts';
import type { ModuleList } from '../module/types.ts';
import type { BlockFormatDriver, BlockProtocolDriver, BlockRegistrar } from './types.ts';

/** The block drivers registered so far, by URL scheme (protocols) and by name (formats). */
export class BlockDriverRegistry implements BlockRegistrar {
  /** Protocols keyed by scheme; the protocol for plain paths is keyed by its name, `file`. */
  private readonly protocols = new Map<string, BlockProtocolDriver>();
  private readonly formats = new Map<string, BlockFormatDriver>();

  private compiledSignatures: SignatureTable | undefined;

  constructor(private readonly list: Pick<ModuleList, 'modules' | 'unlistedSignatures'> = { modules: [] }) {}

  /**
   * The formats' signatures, from the module list (and core's table for formats no module
   * provides): probing finds the format by them, then loads only the module that provides it.
   * Compiled at the first probe, not at start-up.
   */
  get signatures(): SignatureTable {
    this.compiledSignatures ??= signatureTable(this.list);
    return this.compiledSignatures;
  }

  registerProtocol(driver: BlockProtocolDriver): void {
    const keys = driver.schemes.length > 0 ? driver.schemes : [driver.name];
    for (const key of keys) {
      if (this.protocols.has(key)) throw new Error(`block protocol ${key} is registered twice`);
    }
    for (const key of keys) this.protocols.set(key, driver);
  }

  registerFormat(driver: BlockFormatDriver): void {
    if (this.formats.has(driver.name)) throw new Error(`block format ${driver.name} is registered twice`);
    this.formats.set(driver.name, driver);
  }

  protocol(scheme: string): BlockProtocolDriver | undefined {
    return this.protocols.get(scheme);
  }

  format(name: string): BlockFormatDriver | undefined {
    return this.formats.get(name);
  }
}
