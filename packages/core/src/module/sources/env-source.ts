import { join, resolve } from 'node:path';
import type { ModuleSource } from './source.ts';

/** `TESSERA_MODULE_DIR`, when set: a flat directory of module files, searched first. */
export function envSource(env: Readonly<Record<string, string | undefined>>): ModuleSource | undefined {
  const dir = env.TESSERA_MODULE_DIR;
  if (!dir) return undefined;
  const path = resolve(dir);
  return { origin: 'TESSERA_MODULE_DIR', path, fileOf: (entry) => join(path, entry.file) };
}
