/**
 * The VHD checksum (footer and dynamic header): the one's complement of the byte sum of the
 * structure, taken with its checksum field as zero.
 */
export function vhdChecksum(bytes: Uint8Array, checksumAt: number): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (i >= checksumAt && i < checksumAt + 4) continue;
    sum += bytes[i]!;
  }
  return ~sum >>> 0;
}
