import { signatureTable, type SignatureTable } from './probe/signatures.ts';
import type { Feature, ModuleList } from '../module/types.ts';
import { BlockError } from './errors.ts';
import type { BlockCodec, BlockCrypto, BlockFormatDriver, BlockProtocolDriver, BlockRegistrar } from './types.ts';

/** The block drivers registered so far, by URL scheme (protocols) and by name (formats). */
export class BlockDriverRegistry implements BlockRegistrar {
  /** Protocols keyed by scheme; the protocol for plain paths is keyed by its name, `file`. */
  private readonly protocols = new Map<string, BlockProtocolDriver>();
  private readonly formats = new Map<string, BlockFormatDriver>();
  private readonly codecs = new Map<string, BlockCodec>();
  private readonly cryptos = new Map<string, BlockCrypto>();

  private compiledSignatures: SignatureTable | undefined;

  constructor(
    private readonly list: Pick<ModuleList, 'modules' | 'unlistedSignatures'> = { modules: [] },
    /** Loads the modules that provide a feature (the host's); none in a registry of its own. */
    private readonly requireFeature: (feature: Feature) => Promise<boolean> = async () => false,
  ) {}

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

  registerCodec(codec: BlockCodec): void {
    if (this.codecs.has(codec.name)) throw new Error(`block codec ${codec.name} is registered twice`);
    this.codecs.set(codec.name, codec);
  }

  async codec(name: string): Promise<BlockCodec> {
    const registered = this.codecs.get(name);
    if (registered) return registered;
    await this.requireFeature(`block-codec:${name}`);
    const loaded = this.codecs.get(name);
    if (!loaded) throw new BlockError(`no module of this program provides the ${name} codec`, { code: 'unsupported-feature' });
    return loaded;
  }

  registerCrypto(crypto: BlockCrypto): void {
    if (this.cryptos.has(crypto.name)) throw new Error(`block crypto ${crypto.name} is registered twice`);
    this.cryptos.set(crypto.name, crypto);
  }

  async crypto(name: string): Promise<BlockCrypto> {
    const registered = this.cryptos.get(name);
    if (registered) return registered;
    await this.requireFeature(`block-crypto:${name}`);
    const loaded = this.cryptos.get(name);
    if (!loaded) throw new BlockError(`no module of this program provides the ${name} encryption`, { code: 'unsupported-feature' });
    return loaded;
  }

  protocol(scheme: string): BlockProtocolDriver | undefined {
    return this.protocols.get(scheme);
  }

  format(name: string): BlockFormatDriver | undefined {
    return this.formats.get(name);
  }
}
