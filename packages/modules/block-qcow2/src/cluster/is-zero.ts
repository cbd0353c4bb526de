/** Whether `data` holds only zero bytes (a cluster written with zeroes becomes a zero cluster). */
export function isZero(data: Uint8Array): boolean {
  if (data.length > 0 && (data[0] !== 0 || data[data.length - 1] !== 0)) return false; // most data, at once
  // Words of 32 bits: no BigInt per word on this path (it runs for every cluster written).
  const words = data.byteOffset % 4 === 0 && data.length % 4 === 0 ? new Uint32Array(data.buffer, data.byteOffset, data.length / 4) : undefined;
  if (words) {
    for (let i = 0; i < words.length; i++) if (words[i] !== 0) return false;
    return true;
  }
  for (let i = 0; i < data.length; i++) if (data[i] !== 0) return false;
  return true;
}
