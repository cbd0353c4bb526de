/** A file's bytes, base64, inlined into the bundle by tools/build/vite-bytes.mjs. */
declare module '*?bytes' {
  const base64: string;
  export default base64;
}

// Files of @bokuweb/zstd-wasm that its `exports` leaves out (tools/build/vite-bytes.mjs `?file`).
declare module '@bokuweb/zstd-wasm/dist/esm/module.js?file' {
  export const Module: { init(wasm: Uint8Array): void };
  export function waitInitialized(): Promise<void>;
}
declare module '@bokuweb/zstd-wasm/dist/esm/simple/compress.js?file' {
  export function compress(data: Uint8Array, level?: number): Uint8Array;
}
declare module '@bokuweb/zstd-wasm/dist/esm/simple/decompress.js?file' {
  export function decompress(data: Uint8Array, options?: { defaultHeapSize: number }): Uint8Array;
}
