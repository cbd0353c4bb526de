import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { V86Constructor } from './v86-internals.ts';
import { patchV86Wasm } from './v86-wasm-patch.ts';

export interface V86Engine {
  readonly V86: V86Constructor;
  readonly wasmPath: string;
  /** v86's `wasm_fn` option: instantiates the patched CPU (see v86-wasm-patch.ts). */
  readonly wasmFn: (imports: object) => Promise<unknown>;
}

/** The part of the WebAssembly global used here (the project's TypeScript libs do not declare it). */
declare const WebAssembly: { instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: { exports: unknown } }> };

/**
 * v86 is loaded only when a machine runs, so `-version` and `--list-modules` stay fast. It is a
 * runtime dependency kept out of the bundle; its wasm must be named explicitly under ESM.
 * (Not `createRequire(import.meta.url)`: the bundler rewrites `import.meta.url` there.)
 */
export async function loadV86(): Promise<V86Engine> {
  // Resolved like the import below, from the executable's place (node_modules next to it).
  const wasmPath = fileURLToPath(import.meta.resolve('v86/build/v86.wasm'));
  const module = (await import('v86')) as unknown as { V86: V86Constructor };
  const wasm = patchV86Wasm(new Uint8Array(await readFile(wasmPath)));
  const wasmFn = async (imports: object) => (await WebAssembly.instantiate(wasm, imports)).instance.exports;
  return { V86: module.V86, wasmPath, wasmFn };
}
