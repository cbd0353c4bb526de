// Encryption of 512-byte sectors as LUKS1 (and qemu) does it: each sector its own message, its IV
// from the sector number (plain, plain64 or ESSIV); ecb has no IV.
//
// Speed: node:crypto has no call that takes many XTS data units (or CBC messages) at once, and a
// cipher object per sector costs ~20 µs. So the modes are built here on one AES-ECB pass over a
// whole request: XTS (IEEE 1619: each block whitened with its tweak, the sector's encrypted IV
// times α^j), CBC decryption and CTR. Only CBC encryption, which chains, goes sector by sector.
import { createCipheriv, createDecipheriv, createHash } from 'node:crypto';
import { essivCipher, type CipherSuite } from './algorithms.ts';
import { SECTOR_SIZE } from './header.ts';

const BLOCK = 16;

export class SectorCipher {
  private readonly ecbName: string;
  private readonly dataKey: Uint8Array;
  /** XTS's second key, which encrypts the tweaks. */
  private readonly tweakKey: Uint8Array | undefined;
  private readonly essivKey: Uint8Array | undefined;

  constructor(
    private readonly suite: CipherSuite,
    key: Uint8Array,
  ) {
    const bits = (suite.mode === 'xts' ? key.length / 2 : key.length) * 8;
    this.ecbName = `aes-${bits}-ecb`;
    this.dataKey = suite.mode === 'xts' ? key.slice(0, key.length / 2) : key.slice();
    this.tweakKey = suite.mode === 'xts' ? key.slice(key.length / 2) : undefined;
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
    switch (this.suite.mode) {
      case 'ecb':
        data.set(ecb(this.ecbName, this.dataKey, data, encrypt));
        return;
      case 'xts':
        return this.xts(data, firstSector, encrypt);
      case 'ctr':
        return this.ctr(data, firstSector);
      case 'cbc':
        return encrypt ? this.cbcEncrypt(data, firstSector) : this.cbcDecrypt(data, firstSector);
    }
  }

  /** The IVs of `count` sectors from `first`, 16 bytes each: the number little-endian (32 bits for plain), ESSIV's encrypted. */
  private ivs(first: number, count: number): Buffer {
    const ivs = Buffer.alloc(count * BLOCK);
    for (let i = 0; i < count; i++) {
      if (this.suite.ivgen === 'plain') ivs.writeUInt32LE((first + i) % 2 ** 32, i * BLOCK);
      else ivs.writeBigUInt64LE(BigInt(first + i), i * BLOCK);
    }
    return this.essivKey ? ecb(essivCipher(this.suite.ivgenHash!), this.essivKey, ivs, true) : ivs;
  }

  private xts(data: Uint8Array, firstSector: number, encrypt: boolean): void {
    const sectors = Math.ceil(data.length / SECTOR_SIZE);
    const first = ecb(this.ecbName, this.tweakKey!, this.ivs(firstSector, sectors), true);
    const tweaks = new Uint32Array(data.length / 4);
    for (let sector = 0; sector < sectors; sector++) {
      // α^0..α^31 times the sector's encrypted IV: little-endian doubling in GF(2^128).
      let [a, b, c, d] = [first.readUInt32LE(sector * BLOCK), first.readUInt32LE(sector * BLOCK + 4), first.readUInt32LE(sector * BLOCK + 8), first.readUInt32LE(sector * BLOCK + 12)];
      const end = Math.min((sector + 1) * SECTOR_SIZE, data.length) / 4;
      for (let at = (sector * SECTOR_SIZE) / 4; at < end; at += 4) {
        tweaks[at] = a;
        tweaks[at + 1] = b;
        tweaks[at + 2] = c;
        tweaks[at + 3] = d;
        const carry = d >>> 31;
        d = ((d << 1) | (c >>> 31)) >>> 0;
        c = ((c << 1) | (b >>> 31)) >>> 0;
        b = ((b << 1) | (a >>> 31)) >>> 0;
        a = ((a << 1) ^ (carry * 0x87)) >>> 0;
      }
    }
    const tweakBytes = new Uint8Array(tweaks.buffer);
    const whitened = xor(data, tweakBytes);
    data.set(xor(ecb(this.ecbName, this.dataKey, whitened, encrypt), tweakBytes));
  }

  /** CTR: the keystream of each sector from its IV as a 128-bit big-endian counter, one pass for all. */
  private ctr(data: Uint8Array, firstSector: number): void {
    const sectors = Math.ceil(data.length / SECTOR_SIZE);
    const ivs = this.ivs(firstSector, sectors);
    const counters = Buffer.alloc(Math.ceil(data.length / BLOCK) * BLOCK);
    for (let sector = 0; sector < sectors; sector++) {
      const counter = Buffer.from(ivs.subarray(sector * BLOCK, (sector + 1) * BLOCK));
      const end = Math.min((sector + 1) * SECTOR_SIZE, counters.length);
      for (let at = sector * SECTOR_SIZE; at < end; at += BLOCK) {
        counter.copy(counters, at);
        for (let i = BLOCK - 1; i >= 0 && ++counter[i]! === 256; i--) counter[i] = 0;
      }
    }
    data.set(xor(data, ecb(this.ecbName, this.dataKey, counters, true)));
  }

  /** CBC decryption needs no chaining of results: one pass, then each block XORed with the block before (the IV first). */
  private cbcDecrypt(data: Uint8Array, firstSector: number): void {
    const sectors = Math.ceil(data.length / SECTOR_SIZE);
    const ivs = this.ivs(firstSector, sectors);
    const previous = new Uint8Array(data.length);
    for (let sector = 0; sector < sectors; sector++) {
      const start = sector * SECTOR_SIZE;
      const end = Math.min(start + SECTOR_SIZE, data.length);
      previous.set(ivs.subarray(sector * BLOCK, (sector + 1) * BLOCK), start);
      previous.set(data.subarray(start, end - BLOCK), start + BLOCK);
    }
    data.set(xor(ecb(this.ecbName, this.dataKey, data, false), previous));
  }

  private cbcEncrypt(data: Uint8Array, firstSector: number): void {
    const sectors = Math.ceil(data.length / SECTOR_SIZE);
    const ivs = this.ivs(firstSector, sectors);
    const name = `${this.ecbName.slice(0, -4)}-cbc`;
    for (let sector = 0; sector < sectors; sector++) {
      const part = data.subarray(sector * SECTOR_SIZE, Math.min((sector + 1) * SECTOR_SIZE, data.length));
      const cipher = createCipheriv(name, this.dataKey, ivs.subarray(sector * BLOCK, (sector + 1) * BLOCK));
      cipher.setAutoPadding(false);
      part.set(Buffer.concat([cipher.update(part), cipher.final()]));
    }
  }
}

function ecb(name: string, key: Uint8Array, input: Uint8Array, encrypt: boolean): Buffer {
  const cipher = encrypt ? createCipheriv(name, key, null) : createDecipheriv(name, key, null);
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(input), cipher.final()]);
}

function xor(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length);
  const words = a.length >>> 2;
  if (a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0) {
    const [x, y, z] = [new Uint32Array(a.buffer, a.byteOffset, words), new Uint32Array(b.buffer, b.byteOffset, words), new Uint32Array(out.buffer, 0, words)];
    for (let i = 0; i < words; i++) z[i] = x[i]! ^ y[i]!;
    for (let i = words * 4; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  } else {
    for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  }
  return out;
}
