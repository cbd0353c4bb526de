// The zstd codec qcow2's compression_type=zstd uses: clusters compressed as QEMU does (one frame,
// level 3) and read back as QEMU reads them (one frame at the start of the stored bytes, which run
// on to a sector boundary).
import * as zlib from 'node:zlib';
import type { BlockCodec } from '@tessera/core';
import type { ZstdEngine } from './engine.ts';
import { codedError } from './errors.ts';
import { zstdFrame } from './frame.ts';
import { nativeZstd } from './native.ts';

let engine: Promise<ZstdEngine> | undefined;
/** node:zlib's zstd where this Node has it, else the bundled WebAssembly one (its code loaded only then). */
export const zstdEngine = () => (engine ??= Promise.resolve(nativeZstd(zlib)).then(async (native) => native ?? (await import('./wasm.ts')).wasmZstd));

export const zstdCodec: BlockCodec = {
  name: 'zstd',
  async compress(data) {
    return (await zstdEngine()).compress(data);
  },
  async decompress(data, size) {
    const frame = zstdFrame(data);
    if (frame.contentSize !== undefined && frame.contentSize !== size) {
      throw codedError(`zstd frame holds ${frame.contentSize} bytes, not ${size}`, 'corrupt-image');
    }
    let out: Uint8Array;
    try {
      out = await (await zstdEngine()).decompress(data.subarray(0, frame.length), size);
    } catch (error) {
      throw codedError(`zstd: ${(error as Error).message}`, 'corrupt-image', { cause: error });
    }
    if (out.length !== size) throw codedError(`zstd frame decompresses to ${out.length} bytes, not ${size}`, 'corrupt-image');
    return out;
  },
};
