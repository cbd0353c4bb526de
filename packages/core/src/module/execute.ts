import { createRequire, isBuiltin } from 'node:module';
import { Script } from 'node:vm';
import { SUBSYSTEMS, type ModuleDefinition } from './types.ts';
import { ModuleError } from './errors.ts';

/** Node's own require, for builtins only: any base resolves them, and no file is ever looked up. */
const requireNode = createRequire('file:///');

/** What wraps a module's CommonJS text: its first line stays line 1, so stack traces point into the file. */
const WRAPPER_HEAD = '(function (exports, require, module) {"use strict";';
const WRAPPER_TAIL = '\n})';

/**
 * Run a verified module file and return its definition. The bytes already in memory are compiled
 * as a script (the module build writes CommonJS text), so what runs is exactly what was hashed:
 * there is no second read of the file that could differ from the first. A script also skips
 * Node's ESM loader: a data: URL import of the same bytes cost 15–40 ms more per module, most of
 * it parsing the URL and decoding base64.
 *
 * `path` names the file in stack traces only; nothing is read from it. The module gets a
 * `require` that hands out Node's builtins and nothing else (a module file carries its own
 * third-party code), and no `__filename`/`__dirname`: it has no file identity to act on.
 */
export async function executeModuleBytes(name: string, bytes: Uint8Array, path: string): Promise<ModuleDefinition> {
  const source = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  const requireBuiltin = (id: string): unknown => {
    if (typeof id !== 'string' || !isBuiltin(id)) {
      throw new ModuleError('refused', name, `module ${name} refused: it requires '${String(id)}', which is not a Node builtin (a module file carries its own dependencies)`);
    }
    return requireNode(id);
  };
  const module = { exports: {} as Record<string, unknown> };
  let run: (exports: unknown, require: unknown, module: unknown) => void;
  try {
    run = new Script(WRAPPER_HEAD + source + WRAPPER_TAIL, { filename: path }).runInThisContext();
  } catch (error) {
    // Verified bytes that do not compile: a build of another Node, or a file of the ESM format.
    throw new ModuleError('refused', name, `module ${name} refused: ${path} does not compile as a module script (${(error as Error).message}); reinstall it from this build`);
  }
  run.call(module.exports, module.exports, requireBuiltin, module);
  return checkDefinition(name, module.exports.default);
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
