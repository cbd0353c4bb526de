// zstd compiled to WebAssembly (@bokuweb/zstd-wasm, MIT; zstd itself BSD), for Node versions
// whose node:zlib has no zstd (Node 20, 22 before 22.15). Its wasm bytes are imported into this
// module's bundle (`?bytes`), so the loader's sha256 of the module file covers them, and they are
// compiled only when this path is taken.
import wasmBase64 from '@bokuweb/zstd-wasm/dist/esm/zstd.wasm?bytes';
import { Module, waitInitialized } from '@bokuweb/zstd-wasm/dist/esm/module.js?file';
import { compress } from '@bokuweb/zstd-wasm/dist/esm/simple/compress.js?file';
import { decompress } from '@bokuweb/zstd-wasm/dist/esm/simple/decompress.js?file';
import type { ZstdEngine } from './engine.ts';

let ready: Promise<void> | undefined;
const init = () =>
  (ready ??= (async () => {
    Module.init(Buffer.from(wasmBase64, 'base64'));
    await waitInitialized();
  })());

export const wasmZstd: ZstdEngine = {
  name: 'wasm',
  async compress(data) {
    await init();
    return compress(data, 3);
  },
  async decompress(frame, size) {
    await init();
    // The frame's declared size was checked by the caller; one without a size gets the cluster's.
    return decompress(frame, { defaultHeapSize: size });
  },
};
