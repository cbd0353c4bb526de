import { ModuleError } from './errors.ts';
import { parseModuleHeader } from './header.ts';
import type { LoadableModuleEntry } from './types.ts';

/**
 * Decide whether `bytes`, read from `path`, is exactly the module file this build made.
 * Throws a `refused` ModuleError otherwise. Runs none of the module's code.
 */
export async function verifyModuleBytes(
  entry: LoadableModuleEntry,
  buildStamp: string,
  path: string,
  bytes: Uint8Array,
): Promise<void> {
  const refuse = (why: string): never => {
    throw new ModuleError('refused', entry.name, `module ${entry.name} (${path}) refused: ${why}`);
  };
  const header = parseModuleHeader(bytes);
  if (!header) {
    refuse(`it is not a Tessera module file (no tessera-module header); reinstall ${entry.package}`);
  } else if (header.name !== entry.name) {
    refuse(`the file holds module ${header.name}; reinstall ${entry.package}`);
  } else if (header.stamp !== buildStamp) {
    refuse(
      `it is from another build (module stamp ${header.stamp}, this executable's stamp ${buildStamp}). ` +
        `Only modules from the same build can be loaded: install the ${entry.package} built with this executable`,
    );
  }
  // Loaded here, not at startup: only a run that opens a module file pays for node:crypto.
  const { createHash } = await import('node:crypto');
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== entry.sha256) {
    refuse(
      `its contents changed after the build (expected sha256 ${entry.sha256}, actual sha256 ${actual}); ` +
        `reinstall ${entry.package}`,
    );
  }
}
