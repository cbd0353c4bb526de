/** One zstd implementation: compresses to one frame, decompresses one whole frame. */
export interface ZstdEngine {
  /** `node:zlib` or `wasm`: which implementation runs (the tests check both). */
  readonly name: string;
  compress(data: Uint8Array): Promise<Uint8Array>;
  /** The frame (exactly one, nothing after it) decompressed, at most `size` bytes. */
  decompress(frame: Uint8Array, size: number): Promise<Uint8Array>;
}
