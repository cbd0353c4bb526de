/**
 * Whether the guest's CPU runs, as QEMU's run states name it (query-status): `prelaunch` until it
 * first runs (with -S it waits there for `cont`), `running`, `paused` after `stop`, `shutdown`
 * after a guest power-off under -no-shutdown. The monitor drives it; listeners hear each change.
 */
export type RunStatus = 'prelaunch' | 'running' | 'paused' | 'shutdown';

export interface RunEngine {
  run(): Promise<void>;
  stop(): Promise<void>;
}

/** Why `resume()` refused (QMP's `cont` reports it). */
export class RunStateError extends Error {
  constructor(
    readonly code: 'needs-reset',
    message: string,
  ) {
    super(message);
    this.name = 'RunStateError';
  }
}

export class RunState {
  private current: RunStatus = 'prelaunch';
  private readonly listeners = new Set<(status: RunStatus, previous: RunStatus) => void>();

  constructor(private readonly engine: RunEngine) {}

  get status(): RunStatus {
    return this.current;
  }

  get running(): boolean {
    return this.current === 'running';
  }

  /** Run the CPU (QMP `cont`). A machine the guest shut down needs `system_reset` first, as in QEMU. */
  async resume(): Promise<void> {
    if (this.current === 'running') return;
    if (this.current === 'shutdown') throw new RunStateError('needs-reset', 'Resetting the Virtual Machine is required');
    await this.engine.run();
    this.set('running');
  }

  /** Stop the CPU (QMP `stop`); devices and host resources stay as they are. */
  async pause(): Promise<void> {
    if (this.current !== 'running') return;
    await this.engine.stop();
    this.set('paused');
  }

  /**
   * A shutdown under -no-shutdown (guest power-off, or a reset under -no-reboot): a running CPU
   * stops in the `shutdown` state; one that was not running stays as it was (as QEMU's vm_stop).
   */
  async shutdown(): Promise<void> {
    if (this.current !== 'running') return;
    await this.engine.stop();
    this.set('shutdown');
  }

  /** The machine was reset (`system_reset`): a machine that is not running is `prelaunch` again, as in QEMU (and may be resumed). */
  afterReset(): void {
    if (this.current !== 'running') this.set('prelaunch');
  }

  onChange(listener: (status: RunStatus, previous: RunStatus) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private set(status: RunStatus): void {
    const previous = this.current;
    if (previous === status) return;
    this.current = status;
    for (const listener of this.listeners) listener(status, previous);
  }
}
