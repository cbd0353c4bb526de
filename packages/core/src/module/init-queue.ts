import type { ModuleInit, SubsystemApis, SubsystemName } from './types.ts';

export interface InitFailure {
  readonly module: string;
  readonly subsystem: SubsystemName;
  readonly error: unknown;
}

interface Pending {
  readonly module: string;
  readonly init: ModuleInit;
}

/**
 * Runs module init functions when their subsystem initializes: each once, in registration
 * order. A module added after its subsystem initialized (a lazily loaded one) runs at once.
 * A throwing init is recorded against its module and does not stop the others.
 */
export class InitQueue {
  private readonly pending = new Map<SubsystemName, Pending[]>();
  private readonly initialized = new Set<SubsystemName>();
  private readonly failures = new Map<string, InitFailure>();

  constructor(
    private readonly apis: SubsystemApis,
    private readonly onFailure: (failure: InitFailure) => void,
  ) {}

  add(module: string, inits: readonly ModuleInit[]): void {
    for (const init of inits) {
      if (this.initialized.has(init.subsystem)) this.run({ module, init });
      else this.queueFor(init.subsystem).push({ module, init });
    }
  }

  /** Initialize a subsystem: run every init registered for it so far. Idempotent. */
  initialize(subsystem: SubsystemName): void {
    if (this.initialized.has(subsystem)) return;
    this.initialized.add(subsystem);
    const queue = this.queueFor(subsystem);
    this.pending.delete(subsystem);
    for (const item of queue) this.run(item);
  }

  isInitialized(subsystem: SubsystemName): boolean {
    return this.initialized.has(subsystem);
  }

  failureOf(module: string): InitFailure | undefined {
    return this.failures.get(module);
  }

  private queueFor(subsystem: SubsystemName): Pending[] {
    let queue = this.pending.get(subsystem);
    if (!queue) this.pending.set(subsystem, (queue = []));
    return queue;
  }

  private run({ module, init }: Pending): void {
    if (this.failures.has(module)) return; // a module that failed once stays out
    try {
      // The union type cannot relate `init` to its own subsystem's api; the pair is built together.
      (init.init as (api: unknown) => void)(this.apis[init.subsystem]);
    } catch (error) {
      const failure = { module, subsystem: init.subsystem, error };
      this.failures.set(module, failure);
      this.onFailure(failure);
    }
  }
}
