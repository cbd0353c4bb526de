import { dirname, join } from 'node:path';
import { ModuleError, type ModuleFileRefusal } from './errors.ts';
import type { InstallAdvice } from './sources/install-advice.ts';
import type { LoadableModuleEntry, ModuleList } from './types.ts';

const STAMP = /^[0-9a-f]{64}$/;

// Loaded when first needed, not imported: loading node:fs/promises costs every start about 1.3 ms,
// and these diagnoses run only on error paths.
const fsPromises = () => process.getBuiltinModule('node:fs/promises');
const short = (stamp: string) => `${stamp.slice(0, 12)}…`;

/**
 * Why this build's file of a module is missing from its stamp directory while the modules
 * directory holds the module for other builds. When the executable's own file was replaced after
 * this process started, the process was upgraded under it and its build's modules were removed
 * (a prune): the only fix is a restart. Otherwise the installed modules are of another build than
 * the installed executable. Undefined when no other build has the module (plainly not installed).
 * Runs only on that error path; it reads directory entries and file status, never file contents.
 */
export async function otherBuildsDiagnosis(
  list: ModuleList,
  entry: LoadableModuleEntry,
  buildDirectory: string,
  advice: InstallAdvice,
): Promise<string | undefined> {
  const modulesRoot = dirname(buildDirectory);
  let names: string[];
  try {
    names = await fsPromises().readdir(modulesRoot);
  } catch {
    return undefined;
  }
  const others: { stamp: string; mtimeMs: number }[] = [];
  for (const name of names) {
    if (name === list.stamp || !STAMP.test(name)) continue;
    const file = await fsPromises().stat(join(modulesRoot, name, entry.file)).catch(() => undefined);
    if (file?.isFile()) others.push({ stamp: name, mtimeMs: file.mtimeMs });
  }
  if (!others.length) return undefined;
  const newest = others.reduce((a, b) => (b.mtimeMs > a.mtimeMs ? b : a));
  const self = `this ${list.executable} (build ${short(list.stamp)}, ${list.version})`;
  const installed = `the installed ${entry.name} is build ${short(newest.stamp)} (${join(modulesRoot, newest.stamp, entry.file)})`;
  if (await executableReplacedSinceStart()) {
    return `module ${entry.name} cannot be loaded: ${self} was upgraded while running; ${installed}; restart the command`;
  }
  return (
    `module ${entry.name} is not installed for ${self}: ${installed}, from another build; ` +
    `${advice.action}: ${advice.how}; or install ${list.executable} of that build`
  );
}

/**
 * A module file of another build where this build's belongs, in a process whose executable was
 * replaced since it started: a package manager upgraded both in place (npm replaces a package's
 * directory), so the news is the upgrade, and the fix is a restart, not a reinstall.
 */
export async function upgradedWhileRunning(list: ModuleList, entry: LoadableModuleEntry, refusal: ModuleFileRefusal): Promise<ModuleError | undefined> {
  if (refusal.kind !== 'not-this-build' && refusal.kind !== 'wrong-size') return undefined;
  if (!(await executableReplacedSinceStart())) return undefined;
  const self = `this ${list.executable} (build ${short(list.stamp)}, ${list.version})`;
  return new ModuleError(
    'refused',
    entry.name,
    `module ${entry.name} cannot be loaded: ${self} was upgraded while running; the installed ${entry.name} (${refusal.path}) is of another build; restart the command`,
    { refusal },
  );
}

/** Whether the file the process was started from was replaced (or changed) after it started. */
export async function executableReplacedSinceStart(executable = process.argv[1]): Promise<boolean> {
  if (!executable) return false;
  const file = await fsPromises().stat(executable).catch(() => undefined);
  return file !== undefined && file.ctimeMs > performance.timeOrigin;
}
