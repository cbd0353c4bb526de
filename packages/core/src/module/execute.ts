import { SUBSYSTEMS, type ModuleDefinition } from './types.ts';
import { ModuleError } from './errors.ts';

/**
 * Run a verified module file and return its definition. The bytes are handed to the ESM loader
 * as a data: URL, so what runs is exactly what was hashed: there is no second read of the file
 * that could differ from the first.
 */
export async function executeModuleBytes(name: string, bytes: Uint8Array): Promise<ModuleDefinition> {
  const url = `data:text/javascript;base64,${Buffer.from(bytes).toString('base64')}`;
  const namespace = (await import(/* @vite-ignore */ url)) as { default?: unknown };
  return checkDefinition(name, namespace.default);
}

/** A module's default export must be a definition of the module it claims to be. */
export function checkDefinition(name: string, value: unknown): ModuleDefinition {
  const invalid = (why: string): never => {
    throw new ModuleError('refused', name, `module ${name} refused: its definition ${why}`);
  };
  if (typeof value !== 'object' || value === null) return invalid('is missing (no default export)');
  const definition = value as Partial<ModuleDefinition>;
  if (definition.name !== name) return invalid(`names another module (${String(definition.name)})`);
  if (!Array.isArray(definition.inits)) return invalid('has no inits array');
  for (const init of definition.inits as unknown[]) {
    const { subsystem, init: fn } = (init ?? {}) as { subsystem?: unknown; init?: unknown };
    if (!SUBSYSTEMS.includes(subsystem as never) || typeof fn !== 'function') {
      return invalid(`has an init that is not {subsystem: ${SUBSYSTEMS.join('|')}, init: function}`);
    }
  }
  return definition as ModuleDefinition;
}
