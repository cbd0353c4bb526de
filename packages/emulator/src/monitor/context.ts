import type { MachineActions } from './actions.ts';
import type { ChardevInfo } from './machine-control.ts';

/** What a monitor command runs against. */
export interface MonitorContext {
  readonly actions: MachineActions;
  /** The character devices, as `query-chardev` lists them. */
  chardevs(): ChardevInfo[];
}
