import { fileURLToPath } from 'node:url';
import type { V86Constructor } from './v86-internals.ts';

export interface V86Engine {
  readonly V86: V86Constructor;
  readonly wasmPath: string;
}

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
 * runtime dependency kept out of the bundle; its wasm must be named explicitly under ESM.
 */
export async function loadV86(): Promise<V86Engine> {
  const directory = v86Directory();
  const module = (await import(/* @vite-ignore */ new URL('build/libv86.mjs', directory).href)) as unknown as { V86: V86Constructor };
  return { V86: module.V86, wasmPath: fileURLToPath(new URL('build/v86.wasm', directory)) };
}
