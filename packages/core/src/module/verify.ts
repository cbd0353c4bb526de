import type { ModuleFileRefusal } from './errors.ts';
import { parseModuleHeader } from './header.ts';
import type { LoadableModuleEntry } from './types.ts';

/**
 * Decide whether `bytes`, read from `path`, is exactly the module file this build made: the
 * refusal when it is not, undefined when it is. Runs none of the module's code.
 */
export async function verifyModuleBytes(
  entry: LoadableModuleEntry,
  buildStamp: string,
  path: string,
  bytes: Uint8Array,
  /** What to tell the user instead of "reinstall <package>". */
  advice?: string,
): Promise<ModuleFileRefusal | undefined> {
  const byHeader = headerRefusal(entry, buildStamp, path, bytes, advice);
  if (byHeader) return byHeader;
  const { createHash } = await loadCrypto();
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== entry.sha256) {
    return notThisBuild(
      path,
      `its contents changed after the build (expected sha256 ${entry.sha256}, actual sha256 ${actual}); ` +
        (advice ?? `reinstall ${entry.package}`),
    );
  }
  return undefined;
}

type Crypto = typeof import('node:crypto');

/**
 * node:crypto, loaded here, not at startup: only a run that opens a module file pays for it.
 * process.getBuiltinModule (Node 20.16+) returns it without the ES module loader that a dynamic
 * import() starts up on its first use (a fixed cost of every run that loads a module).
 */
function loadCrypto(): Promise<Crypto> | Crypto {
  const builtin = (process as { getBuiltinModule?: (name: string) => unknown }).getBuiltinModule;
  return builtin ? (builtin('node:crypto') as Crypto) : import('node:crypto');
}

/**
 * Diagnose a regular file of the wrong size from its first bytes: the header tells a module of
 * another build or another name; a file with this build's header was changed after the build.
 */
export function wrongSizeRefusal(
  entry: LoadableModuleEntry,
  buildStamp: string,
  sizeRefusal: ModuleFileRefusal,
  head: Uint8Array,
  advice = `reinstall ${entry.package}`,
): ModuleFileRefusal {
  const header = parseModuleHeader(head);
  if (!header) return { ...sizeRefusal, reason: `${sizeRefusal.reason}; ${advice}` };
  return (
    headerRefusal(entry, buildStamp, sizeRefusal.path, head, advice) ?? {
      ...sizeRefusal,
      reason: `its contents changed after the build: ${sizeRefusal.reason}; ${advice}`,
    }
  );
}

/** The refusal the file's header alone justifies, or undefined when it names this module and build. */
function headerRefusal(
  entry: LoadableModuleEntry,
  buildStamp: string,
  path: string,
  bytes: Uint8Array,
  advice?: string,
): ModuleFileRefusal | undefined {
  const reinstall = advice ?? `reinstall ${entry.package}`;
  const header = parseModuleHeader(bytes);
  if (!header) {
    return notThisBuild(path, `it is not a Tessera module file (no tessera-module header); ${reinstall}`);
  }
  if (header.name !== entry.name) return notThisBuild(path, `the file holds module ${header.name}; ${reinstall}`);
  if (header.stamp !== buildStamp) {
    return notThisBuild(
      path,
      `it is from another build (module stamp ${header.stamp}, this executable's stamp ${buildStamp}). ` +
        `Only modules from the same build can be loaded: ${advice ?? `install the ${entry.package} built with this executable`}`,
    );
  }
  return undefined;
}

function notThisBuild(path: string, reason: string): ModuleFileRefusal {
  return { kind: 'not-this-build', path, reason };
}
