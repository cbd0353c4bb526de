import { BlockLayer } from './block/layer.ts';
import { BlockDriverRegistry } from './block/registry.ts';
import { ALLOW_LOCAL_BACKING_OF_REMOTE } from './block/remote-backing.ts';
import { moduleSearch } from './module/directories.ts';
import { ModuleError } from './module/errors.ts';
import { InitQueue, type InitFailure } from './module/init-queue.ts';
import { ModuleLoader } from './module/loader.ts';
import { moduleReport, type ModuleReport } from './module/report.ts';
import type { Feature, ModuleList, SubsystemName } from './module/types.ts';
import { NetLayer } from './net/layer.ts';
import { UiLayer } from './ui/layer.ts';

export interface HostOptions {
  /**
   * `import.meta.url` of the executable, or a function giving it: module packages and the
   * distribution directory are found from it, at the first module load (a CommonJS build's
   * import.meta.url costs a URL conversion, which commands that load no module skip).
   */
  readonly executableUrl: string | (() => string);
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Told of an init function that threw; the program goes on without that module. */
  readonly onInitFailure?: (failure: InitFailure) => void;
}

/**
 * One executable's module system and subsystems, wired together. Creating it touches no file:
 * builtin modules are linked in and loadable ones load when a feature they provide is first used.
 */
export class Host {
  readonly modules: ModuleLoader;
  readonly block: BlockLayer;
  readonly ui: UiLayer;
  readonly net: NetLayer;
  private readonly inits: InitQueue;

  constructor(
    readonly list: ModuleList,
    options: HostOptions,
  ) {
    const requireFeature = (feature: Feature) => this.require(feature);
    const blockDrivers = new BlockDriverRegistry(list, requireFeature);
    const env = options.env ?? process.env;
    this.block = new BlockLayer(blockDrivers, requireFeature, {
      warn: (text) => process.stderr.write(text),
      allowLocalBackingOfRemote: env[ALLOW_LOCAL_BACKING_OF_REMOTE] === '1',
    });
    this.ui = new UiLayer(requireFeature);
    this.net = new NetLayer(requireFeature);
    this.inits = new InitQueue(
      { block: blockDrivers, ui: this.ui, net: this.net },
      options.onInitFailure ?? reportInitFailure,
    );
    const { executableUrl } = options;
    const search = () => moduleSearch(list, typeof executableUrl === 'string' ? executableUrl : executableUrl(), env);
    this.modules = new ModuleLoader(list, search, this.inits);
  }

  /** Run the init functions of a subsystem's modules (once); executables call this as they start it. */
  initialize(subsystem: SubsystemName): void {
    this.inits.initialize(subsystem);
  }

  /**
   * Make a feature available: load the modules on the list that provide it and initialize their
   * subsystem. False when no module on the list provides it; throws when one does but is missing,
   * refused or failed to initialize.
   */
  async require(feature: Feature): Promise<boolean> {
    const providers = this.modules.providersOf(feature);
    for (const provider of providers) {
      await this.modules.load(provider.name);
      this.inits.initialize(provider.category);
      const failure = this.inits.failureOf(provider.name);
      if (failure) {
        throw new ModuleError(
          'init-failed',
          provider.name,
          `module ${provider.name} failed to initialize: ${errorText(failure.error)}`,
          { cause: failure.error },
        );
      }
    }
    return providers.length > 0;
  }

  /** Every module on the list with its state; reads (never runs) loadable module files. */
  async listModules(): Promise<ModuleReport> {
    const states = await Promise.all(this.list.modules.map((entry) => this.modules.inspect(entry)));
    return moduleReport(this.list, this.modules.directories, states);
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function reportInitFailure(failure: InitFailure): void {
  process.stderr.write(
    `warning: module ${failure.module} failed to initialize (${failure.subsystem}): ${errorText(failure.error)}; ` +
      'going on without it\n',
  );
}
