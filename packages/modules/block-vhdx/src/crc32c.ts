/** CRC-32C (Castagnoli), as VHDX checksums its headers, region tables and log entries. */
const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** The CRC-32C of `bytes`, counting the 4 bytes at `skipAt` (a checksum field) as zeroes. */
export function crc32c(bytes: Uint8Array, skipAt = -1): number {
  let crc = 0xffffffff;
  const update = (from: number, to: number, zero: boolean) => {
    for (let i = from; i < to; i++) crc = TABLE[(crc ^ (zero ? 0 : bytes[i]!)) & 0xff]! ^ (crc >>> 8);
  };
  if (skipAt < 0) update(0, bytes.length, false);
  else {
    update(0, skipAt, false);
    update(skipAt, Math.min(skipAt + 4, bytes.length), true);
    update(skipAt + 4, bytes.length, false);
  }
  return (crc ^ 0xffffffff) >>> 0;
}
