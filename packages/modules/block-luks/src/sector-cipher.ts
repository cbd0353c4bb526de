// Encryption of 512-byte sectors as LUKS1 (and qemu) does it: each sector its own message, its IV
// from the sector number (plain, plain64 or ESSIV); ecb has no IV.
import { createCipheriv, createDecipheriv, createHash } from 'node:crypto';
import { essivCipher, opensslName, type CipherSuite } from './algorithms.ts';
import { SECTOR_SIZE } from './header.ts';

const IV_SIZE = 16;

export class SectorCipher {
  private readonly name: string;
  private readonly essivKey: Uint8Array | undefined;

  constructor(
    private readonly suite: CipherSuite,
    private readonly key: Uint8Array,
  ) {
    this.name = opensslName(suite);
    this.essivKey = suite.ivgen === 'essiv' ? createHash(suite.ivgenHash!).update(key).digest() : undefined;
  }

  /** Decrypt `data` in place; it starts at sector `firstSector` and is whole sectors (the last may be a shorter run of cipher blocks). */
  decrypt(data: Uint8Array, firstSector: number): void {
    this.run(data, firstSector, false);
  }

  encrypt(data: Uint8Array, firstSector: number): void {
    this.run(data, firstSector, true);
  }

  private run(data: Uint8Array, firstSector: number, encrypt: boolean): void {
    if (this.suite.mode === 'ecb') {
      // No IV and no chaining: one pass over every sector.
      this.pass(data, null, encrypt);
      return;
    }
    for (let at = 0, sector = firstSector; at < data.length; at += SECTOR_SIZE, sector++) {
      this.pass(data.subarray(at, Math.min(at + SECTOR_SIZE, data.length)), this.iv(sector), encrypt);
    }
  }

  private pass(part: Uint8Array, iv: Uint8Array | null, encrypt: boolean): void {
    const cipher = encrypt ? createCipheriv(this.name, this.key, iv) : createDecipheriv(this.name, this.key, iv);
    cipher.setAutoPadding(false);
    const out = cipher.update(part);
    const tail = cipher.final();
    part.set(out, 0);
    if (tail.length > 0) part.set(tail, out.length);
  }

  /** The IV of a sector: its number little-endian (32 bits for plain), ESSIV's encrypted. */
  private iv(sector: number): Uint8Array {
    const iv = Buffer.alloc(IV_SIZE);
    if (this.suite.ivgen === 'plain') iv.writeUInt32LE(sector % 2 ** 32, 0);
    else iv.writeBigUInt64LE(BigInt(sector), 0);
    if (this.essivKey === undefined) return iv;
    const essiv = createCipheriv(essivCipher(this.suite.ivgenHash!), this.essivKey, null);
    essiv.setAutoPadding(false);
    return Buffer.concat([essiv.update(iv), essiv.final()]);
  }
}
