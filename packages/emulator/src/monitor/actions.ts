import { RunStateError } from '../machine-options/run-state.ts';
import type { EventHub } from './events.ts';
import { MonitorError, type MachineControl, type ShutdownReason } from './machine-control.ts';

/**
 * The state-changing commands shared by QMP and the human monitor, each with the event QEMU
 * sends for it (STOP, RESUME, RESET, POWERDOWN, SHUTDOWN), so both monitors behave alike.
 * STOP and RESUME come from the run state's changes, whoever made them (a monitor, -S's end,
 * a -no-shutdown power-off), once each.
 */
export class MachineActions {
  constructor(
    readonly machine: MachineControl,
    readonly events: EventHub,
  ) {
    machine.runState.onChange((status, previous) => {
      if (status === 'running') events.emit('RESUME');
      else if (previous === 'running') events.emit('STOP');
    });
    machine.onGuestReset(() => events.emit('RESET', { guest: true, reason: 'guest-reset' }));
    machine.onTrayMoved((device, id, open) => events.emit('DEVICE_TRAY_MOVED', { device, 'tray-open': open, id }));
  }

  /** QEMU: stopping a machine that does not run is a no-op without an event. */
  async stop(): Promise<void> {
    await this.machine.runState.pause();
  }

  /** From prelaunch (-S) or paused; a machine in the `shutdown` state needs system_reset first. */
  async cont(): Promise<void> {
    try {
      await this.machine.runState.resume();
    } catch (error) {
      if (error instanceof RunStateError) throw new MonitorError('GenericError', error.message);
      throw error;
    }
  }

  /** Under -no-reboot the machine shuts down instead (its SHUTDOWN is sent by the machine), no RESET. */
  reset(): void {
    if (this.machine.reset() === 'reset') this.events.emit('RESET', { guest: false, reason: 'host-qmp-system-reset' });
  }

  powerdown(): void {
    this.events.emit('POWERDOWN');
    this.machine.powerdown();
  }

  quit(): void {
    this.emitShutdown('host-qmp-quit');
    this.machine.quit();
  }

  /** The SHUTDOWN event, sent when the shutdown is asked for (a -no-shutdown machine may have several). */
  emitShutdown(reason: ShutdownReason): void {
    this.events.emit('SHUTDOWN', { guest: reason.startsWith('guest-'), reason });
  }
}
