import { join } from 'node:path';
import { ModuleError, type ModuleFileRefusal } from './errors.ts';
import { executeModuleBytes } from './execute.ts';
import type { InitQueue } from './init-queue.ts';
import type { ModuleDirectory } from './directories.ts';
import { readModuleFile } from './module-file.ts';
import { otherBuildsDiagnosis, upgradedWhileRunning } from './other-builds.ts';
import { verifyModuleBytes, wrongSizeRefusal } from './verify.ts';
import type { Feature, LoadableModuleEntry, ModuleList, ModuleListEntry } from './types.ts';

/** Where a module stands, without running any of its code. */
export type ModuleState =
  | { readonly status: 'builtin' }
  | { readonly status: 'installed'; readonly path: string }
  | { readonly status: 'missing' }
  | ({ readonly status: 'refused' } & ModuleFileRefusal);

type Found =
  | { readonly status: 'verified'; readonly path: string; readonly bytes: Uint8Array }
  | { readonly status: 'refused'; readonly refusal: ModuleFileRefusal }
  | { readonly status: 'missing' };

/**
 * Loads the modules on an executable's compiled-in list, and nothing else: a name must be on the
 * list, its file is looked up only by the list's file name inside the module directories, and the
 * bytes run are the bytes whose stamp and sha256 were checked. Dependencies load first; each
 * module loads once.
 */
export class ModuleLoader {
  private readonly entries: ReadonlyMap<string, ModuleListEntry>;
  private readonly loads = new Map<string, Promise<void>>();

  constructor(
    private readonly list: ModuleList,
    readonly directories: readonly ModuleDirectory[],
    private readonly inits: InitQueue,
  ) {
    this.entries = new Map(list.modules.map((entry) => [entry.name, entry]));
    // Builtin modules are linked in: their inits queue at once, in list (dependency) order.
    for (const entry of list.modules) {
      if (entry.linkage === 'builtin') inits.add(entry.name, entry.definition.inits);
    }
  }

  entry(name: string): ModuleListEntry {
    const entry = this.entries.get(name);
    if (!entry) {
      throw new ModuleError(
        'not-listed',
        name,
        `module ${name} is not on ${this.list.executable}'s module list; it cannot be loaded`,
      );
    }
    return entry;
  }

  /** Modules on the list that declare `feature`. */
  providersOf(feature: Feature): ModuleListEntry[] {
    return this.list.modules.filter((entry) => entry.provides.includes(feature));
  }

  /** Load a module (and first its dependencies); resolves once its inits are queued. */
  async load(name: string): Promise<void> {
    const entry = this.entry(name);
    let loading = this.loads.get(name);
    if (!loading) {
      loading = this.loadOnce(entry);
      this.loads.set(name, loading);
    }
    return loading;
  }

  /** Report a module's state by reading and verifying its file; runs no module code. */
  async inspect(entry: ModuleListEntry): Promise<ModuleState> {
    if (entry.linkage === 'builtin') return { status: 'builtin' };
    const found = await this.find(entry);
    if (found.status === 'verified') return { status: 'installed', path: found.path };
    if (found.status === 'refused') return { status: 'refused', ...found.refusal };
    return { status: 'missing' };
  }

  private async loadOnce(entry: ModuleListEntry): Promise<void> {
    for (const dependency of entry.dependsOn) await this.load(dependency);
    if (entry.linkage === 'builtin') return;
    const found = await this.find(entry);
    if (found.status === 'refused') throw (await upgradedWhileRunning(this.list, entry, found.refusal)) ?? ModuleError.refused(entry.name, found.refusal);
    if (found.status === 'missing') {
      const buildDirectory = this.directories.find((d) => d.origin === 'executable')?.path;
      const otherBuilds = buildDirectory && (await otherBuildsDiagnosis(this.list, entry, buildDirectory));
      if (otherBuilds) throw new ModuleError('missing', entry.name, otherBuilds);
      const searched = this.directories.map((d) => d.path).join(', ');
      throw new ModuleError(
        'missing',
        entry.name,
        `module ${entry.name} is not installed: install the npm package ${entry.package} ` +
          `(file ${entry.file}; searched ${searched})`,
      );
    }
    const definition = await executeModuleBytes(entry.name, found.bytes);
    this.inits.add(entry.name, definition.inits);
  }

  /**
   * The first copy of the module's file in the module directories, read and verified. The first
   * copy found decides: a refused one is not passed over for a later directory's, so that a bad
   * file where the user pointed TESSERA_MODULE_DIR is reported, never silently shadowed.
   */
  private async find(entry: LoadableModuleEntry): Promise<Found> {
    for (const directory of this.directories) {
      const path = join(directory.path, entry.file);
      const outcome = await readModuleFile(path, entry.size);
      if (!outcome.found) continue;
      if ('refusal' in outcome) {
        const { refusal, head } = outcome;
        return { status: 'refused', refusal: head ? wrongSizeRefusal(entry, this.list.stamp, refusal, head) : withAdvice(refusal, entry) };
      }
      const refusal = await verifyModuleBytes(entry, this.list.stamp, path, outcome.bytes);
      return refusal ? { status: 'refused', refusal } : { status: 'verified', path, bytes: outcome.bytes };
    }
    return { status: 'missing' };
  }
}

/** Something other than a file where the module's file belongs: the module's package replaces it. */
function withAdvice(refusal: ModuleFileRefusal, entry: LoadableModuleEntry): ModuleFileRefusal {
  if (refusal.kind !== 'not-a-regular-file') return refusal;
  return { ...refusal, reason: `${refusal.reason}; reinstall ${entry.package}` };
}
