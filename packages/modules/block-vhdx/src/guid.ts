/**
 * GUIDs as VHDX stores them (Microsoft's layout: the first three fields little-endian, the last
 * eight bytes as they are), kept as their 16 stored bytes.
 */
export function guidBytes(text: string): Uint8Array {
  const hex = text.replaceAll('-', '');
  const bytes = Uint8Array.from({ length: 16 }, (_, i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16));
  const swap = (at: number, length: number) => bytes.subarray(at, at + length).reverse();
  swap(0, 4);
  swap(4, 2);
  swap(6, 2);
  return bytes;
}

export const sameGuid = (a: Uint8Array, b: Uint8Array): boolean => a.length === 16 && b.length === 16 && a.every((byte, i) => byte === b[i]);

export const isZeroGuid = (a: Uint8Array): boolean => a.every((byte) => byte === 0);

export function randomGuid(): Uint8Array {
  const id = crypto.getRandomValues(new Uint8Array(16));
  id[7] = (id[7]! & 0x0f) | 0x40; // version 4, in the little-endian third field
  id[8] = (id[8]! & 0x3f) | 0x80;
  return id;
}

export const BAT_REGION = guidBytes('2DC27766-F623-4200-9D64-115E9BFD4A08');
export const METADATA_REGION = guidBytes('8B7CA206-4790-4B9A-B8FE-575F050F886E');
export const FILE_PARAMETERS = guidBytes('CAA16737-FA36-4D43-B3B6-33F0AA44E76B');
export const VIRTUAL_DISK_SIZE = guidBytes('2FA54224-CD1B-4876-B211-5DBED83BF4B8');
export const VIRTUAL_DISK_ID = guidBytes('BECA12AB-B2E6-4523-93EF-C309E000C746');
export const LOGICAL_SECTOR_SIZE = guidBytes('8141BF1D-A96F-4709-BA47-F233A8FAAB5F');
export const PHYSICAL_SECTOR_SIZE = guidBytes('CDA348C7-445D-4471-9CC9-E9885251C556');
export const PARENT_LOCATOR = guidBytes('A8D35F2D-B30B-454D-ABF7-D3D84834AB0C');
