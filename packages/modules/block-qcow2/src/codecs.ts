// The compression types of qcow2's header (byte 104) and where their codecs come from: zlib is
// node:zlib (compress.ts); zstd is the block-codec-zstd module, which block-qcow2 declares in its
// `dependsOn` and asks the block registrar for only when a zstd image's compressed cluster is read
// or written, so zlib images and `info` never load it.
import type { BlockCodec, BlockRegistrar } from '@tessera/core';
import { codedError } from './errors.ts';

export const COMPRESSION_ZLIB = 0;
export const COMPRESSION_ZSTD = 1;

/** The compression types by their `-o compression_type` and `info` names. */
export const COMPRESSION_TYPES: readonly string[] = ['zlib', 'zstd'];

export const compressionTypeName = (type: number): string => COMPRESSION_TYPES[type] ?? String(type);

let registrar: Pick<BlockRegistrar, 'codec'> | undefined;

/** Where codecs come from: the registrar block-qcow2's init received (tests may hand their own). */
export function setCodecSource(source: Pick<BlockRegistrar, 'codec'>): void {
  registrar = source;
}

/** The codec module's codec for a non-zlib compression type, loading the module on first use. */
export async function codecOf(type: number): Promise<BlockCodec> {
  if (!registrar) throw codedError(`qcow2: the ${compressionTypeName(type)} codec is not available here`, 'unsupported-feature');
  return registrar.codec(compressionTypeName(type));
}
