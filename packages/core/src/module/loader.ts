import { ModuleError, type ModuleFileRefusal } from './errors.ts';
import { executeModuleBytes } from './execute.ts';
import type { InitQueue } from './init-queue.ts';
import type { ModuleOrigin, ModuleSearch, ModuleSource } from './directories.ts';
import { readModuleFile, type ModuleFileOutcome } from './module-file.ts';
import { executableReplacedSinceStart, otherBuildsDiagnosis, upgradedWhileRunning } from './other-builds.ts';
import { verifyModuleBytes, wrongSizeRefusal } from './verify.ts';
import type { Feature, LoadableModuleEntry, ModuleList, ModuleListEntry } from './types.ts';

/** Where a module stands, without running any of its code. */
export type ModuleState =
  | { readonly status: 'builtin' }
  | { readonly status: 'installed'; readonly path: string; readonly origin: ModuleOrigin }
  /** Not in any source: `searched` says where it was looked for, `install` the command that fixes it. */
  | { readonly status: 'missing'; readonly searched: readonly string[]; readonly install: string }
  | ({ readonly status: 'refused'; readonly origin: ModuleOrigin } & ModuleFileRefusal);

type Found =
  | { readonly status: 'verified'; readonly path: string; readonly origin: ModuleOrigin; readonly bytes: Uint8Array }
  | { readonly status: 'refused'; readonly origin: ModuleOrigin; readonly refusal: ModuleFileRefusal }
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
  private searchFound: ModuleSearch | undefined;

  /** `search` is worked out at the first load or report: a command that loads no module does no path work. */
  constructor(
    private readonly list: ModuleList,
    private readonly searchOf: () => ModuleSearch,
    private readonly inits: InitQueue,
  ) {
    this.entries = new Map(list.modules.map((entry) => [entry.name, entry]));
    // Builtin modules are linked in: their inits queue at once, in list (dependency) order.
    for (const entry of list.modules) {
      if (entry.linkage === 'builtin') inits.add(entry.name, entry.definition.inits);
    }
  }

  private get search(): ModuleSearch {
    return (this.searchFound ??= this.searchOf());
  }

  /** The sources searched, in order. */
  get directories(): readonly ModuleSource[] {
    return this.search.sources;
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
    if (found.status === 'verified') return { status: 'installed', path: found.path, origin: found.origin };
    if (found.status === 'refused') return { status: 'refused', origin: found.origin, ...found.refusal };
    return { status: 'missing', searched: this.directories.map((s) => s.fileOf(entry)), install: this.search.installAdvice(entry).how };
  }

  private async loadOnce(entry: ModuleListEntry): Promise<void> {
    for (const dependency of entry.dependsOn) await this.load(dependency);
    if (entry.linkage === 'builtin') return;
    const found = await this.find(entry);
    if (found.status === 'refused') throw (await upgradedWhileRunning(this.list, entry, found.refusal)) ?? ModuleError.refused(entry.name, found.refusal);
    if (found.status === 'missing') {
      const advice = this.search.installAdvice(entry);
      const distribution = this.directories.find((s) => s.origin === 'distribution')?.path;
      const otherBuilds = distribution && (await otherBuildsDiagnosis(this.list, entry, distribution, advice));
      if (otherBuilds) throw new ModuleError('missing', entry.name, otherBuilds);
      const searched = this.directories.map((s) => s.fileOf(entry)).join(', ');
      throw new ModuleError('missing', entry.name, `module ${entry.name} is not installed: ${advice.action}: ${advice.how} (searched ${searched})`);
    }
    const definition = await executeModuleBytes(entry.name, found.bytes, found.path);
    this.inits.add(entry.name, definition.inits);
  }

  /**
   * The first copy of the module's file in the module directories, read and verified. The first
   * copy found decides: a refused one is not passed over for a later directory's, so that a bad
   * file where the user pointed TESSERA_MODULE_DIR is reported, never silently shadowed.
   */
  private async find(entry: LoadableModuleEntry): Promise<Found> {
    for (const source of this.directories) {
      const path = source.fileOf(entry);
      const outcome = await readModuleFile(path, entry.size);
      if (!outcome.found) continue;
      // Judged once with the general advice; a source that knows better (an installed package of
      // another version) is asked only when there is something to advise about.
      const judge = (advice?: string) => this.judge(entry, path, outcome, advice);
      let refusal = await judge();
      if (refusal && source.stashedFileOf && (await this.upgradedUnderUs(refusal))) {
        const stashed = await this.readVerified(entry, source.stashedFileOf(entry));
        if (stashed) return { status: 'verified', path: stashed.path, origin: source.origin, bytes: stashed.bytes };
      }
      if (refusal && source.adviceFor) refusal = await judge(await source.adviceFor(entry, this.list));
      if (refusal) return { status: 'refused', origin: source.origin, refusal };
      return { status: 'verified', path, origin: source.origin, bytes: (outcome as { bytes: Uint8Array }).bytes };
    }
    return { status: 'missing' };
  }

  /** Another build's file where ours was, and our executable replaced since we started: an upgrade ran under this process. */
  private async upgradedUnderUs(refusal: ModuleFileRefusal): Promise<boolean> {
    return (refusal.kind === 'not-this-build' || refusal.kind === 'wrong-size') && (await executableReplacedSinceStart());
  }

  /** This build's file at `path`, read with the same rules as any module file and verified; else undefined. */
  private async readVerified(entry: LoadableModuleEntry, path: string): Promise<{ path: string; bytes: Uint8Array } | undefined> {
    const outcome = await readModuleFile(path, entry.size);
    if (!outcome.found || 'refusal' in outcome) return undefined;
    if (await verifyModuleBytes(entry, this.list.stamp, path, outcome.bytes)) return undefined;
    return { path, bytes: outcome.bytes };
  }

  private async judge(
    entry: LoadableModuleEntry,
    path: string,
    outcome: Exclude<ModuleFileOutcome, { found: false }>,
    advice: string | undefined,
  ): Promise<ModuleFileRefusal | undefined> {
    if (!('refusal' in outcome)) return verifyModuleBytes(entry, this.list.stamp, path, outcome.bytes, advice);
    const { refusal, head } = outcome;
    if (head) return wrongSizeRefusal(entry, this.list.stamp, refusal, head, advice);
    return withAdvice(refusal, entry, advice);
  }
}

/** Something other than a file where the module's file belongs: the module's package replaces it. */
function withAdvice(refusal: ModuleFileRefusal, entry: LoadableModuleEntry, advice = `reinstall ${entry.package}`): ModuleFileRefusal {
  if (refusal.kind !== 'not-a-regular-file') return refusal;
  return { ...refusal, reason: `${refusal.reason}; ${advice}` };
}
