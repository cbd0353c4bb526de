import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { V86Constructor } from './v86-internals.ts';
import { patchV86Wasm } from './v86-wasm-patch.ts';
import { compileGuestCodeWithLiftoff } from './wasm-tiering.ts';

export interface V86Engine {
  readonly V86: V86Constructor;
  readonly wasmPath: string;
  /** v86's `wasm_fn` option: instantiates the patched CPU (see v86-wasm-patch.ts). */
  readonly wasmFn: (imports: object) => Promise<unknown>;
}

/** The part of the WebAssembly global used here (the project's TypeScript libs do not declare it). */
declare const WebAssembly: { instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: { exports: unknown } }> };

/** Set by the build (tools/build/runtime-deps.mjs): the executable's copy of its runtime dependencies, relative to it. */
declare const __TESSERA_RUNTIME_DEPS__: string | undefined;

/**
 * Where v86 is: the copy the build put next to the executable, named by an explicit path. Never
 * Node's package search: from an installed tree it walks up every node_modules above the prefix,
 * and a `v86` planted there (under /tmp anyone can) would run. Tests that run from source use the
 * workspace's own package.
 */
function v86Directory(): URL {
  if (typeof __TESSERA_RUNTIME_DEPS__ === 'string') return new URL(`${__TESSERA_RUNTIME_DEPS__}v86/`, import.meta.url);
  return new URL('../', import.meta.resolve('v86'));
}

/**
 * v86 is loaded only when a machine runs, so `-version` and `--list-modules` stay fast. It is a
 * runtime dependency kept out of the bundle; its wasm must be named explicitly under ESM. The wasm
 * is the same copy's, read here and patched in memory (refused unless it is the pinned build).
 */
export async function loadV86(): Promise<V86Engine> {
  const directory = v86Directory();
  const module = (await import(/* @vite-ignore */ new URL('build/libv86.mjs', directory).href)) as unknown as { V86: V86Constructor };
  const wasmPath = fileURLToPath(new URL('build/v86.wasm', directory));
  let wasm: Uint8Array;
  try {
    wasm = patchV86Wasm(new Uint8Array(await readFile(wasmPath)));
  } catch (error) {
    throw new Error(`${wasmPath}: ${(error as Error).message}`, { cause: error });
  }
  const wasmFn = async (imports: object) => {
    const { instance } = await WebAssembly.instantiate(wasm, imports);
    // The CPU module is compiled: the guest code v86 compiles from here on stays in Liftoff.
    compileGuestCodeWithLiftoff();
    return instance.exports;
  };
  return { V86: module.V86, wasmPath, wasmFn };
}
