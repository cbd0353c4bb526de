import { close, constants, fstat, open, read, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { LoadableModuleEntry } from '../types.ts';
import { npmInstallCommand, type NpmLayout } from './npm-layout.ts';
import type { ModuleSource } from './source.ts';

/** Beside the packages: `<node_modules>/.tessera-stash/<stamp>/<file>` (npm leaves dot-directories there alone). */
export const STASH_DIRECTORY = '.tessera-stash';

/**
 * Module packages installed beside the executable's own package by npm: the file is
 * `<node_modules>/<package>/dist/<file>`, found by path from the executable's package, locally
 * (`npm install`) and globally (`npm install -g`) alike. Each module package's postinstall also
 * stashes its file by build stamp (tools/build/module-stash.mjs), for processes that outlive an
 * upgrade of the packages.
 */
export function packageSource(layout: NpmLayout, stamp: string): ModuleSource {
  const packageDir = (entry: LoadableModuleEntry) => join(layout.nodeModules, entry.package);
  return {
    origin: 'package',
    path: layout.nodeModules,
    fileOf: (entry) => join(packageDir(entry), 'dist', entry.file),
    stashedFileOf: (entry) => join(layout.nodeModules, STASH_DIRECTORY, stamp, entry.file),
    async adviceFor(entry, list) {
      const installed = await installedVersion(join(packageDir(entry), 'package.json'));
      const which =
        installed === entry.version
          ? `this ${entry.package} ${installed} is from another build of ${installed}, not`
          : `${installed ? `${entry.package} ${installed}` : `the installed ${entry.package} (of unknown version)`} is not`;
      return (
        `${which} the ${entry.package} ${entry.version} of this ${list.executable} ${list.version}'s build, ` +
        `the only one it loads; install that one: ${npmInstallCommand(entry, layout)}`
      );
    },
  };
}

const MAX_PACKAGE_JSON = 1 << 20;

/**
 * The `version` of an installed package.json, read as warily as a module file (a FIFO or device
 * there must not hang or flood the process), or undefined. Only read to explain a refusal.
 */
async function installedVersion(path: string): Promise<string | undefined> {
  const fd = await new Promise<number | undefined>((done) =>
    open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY, (error, fd) => done(error ? undefined : fd)),
  );
  if (fd === undefined) return undefined;
  try {
    const stats = await new Promise<Stats | undefined>((done) => fstat(fd, (error, s) => done(error ? undefined : s)));
    if (!stats?.isFile() || stats.size > MAX_PACKAGE_JSON) return undefined;
    const buffer = Buffer.alloc(stats.size);
    const n = await new Promise<number>((done) => read(fd, buffer, 0, stats.size, 0, (error, n) => done(error ? 0 : n)));
    const version = (JSON.parse(buffer.subarray(0, n).toString('utf8')) as { version?: unknown }).version;
    // Printed in a message: only what a version can look like.
    return typeof version === 'string' && /^[0-9A-Za-z.+-]{1,64}$/.test(version) ? version : undefined;
  } catch {
    return undefined;
  } finally {
    close(fd, () => {});
  }
}
