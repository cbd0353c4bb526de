import type { EventHub } from './events.ts';
import type { MachineControl, ShutdownReason } from './machine-control.ts';

/**
 * The state-changing commands shared by QMP and the human monitor, each with the event QEMU
 * sends for it (STOP, RESUME, RESET, POWERDOWN, SHUTDOWN), so both monitors behave alike.
 */
export class MachineActions {
  private shutdownSent = false;

  constructor(
    readonly machine: MachineControl,
    readonly events: EventHub,
  ) {
    machine.onGuestReset(() => events.emit('RESET', { guest: true, reason: 'guest-reset' }));
    machine.onTrayMoved((device, id, open) => events.emit('DEVICE_TRAY_MOVED', { device, 'tray-open': open, id }));
  }

  async stop(): Promise<void> {
    if (!this.machine.isRunning()) return; // QEMU: stopping a paused machine is a no-op without an event
    await this.machine.stop();
    this.events.emit('STOP');
  }

  async cont(): Promise<void> {
    if (this.machine.isRunning()) return;
    await this.machine.cont();
    this.events.emit('RESUME');
  }

  reset(): void {
    this.machine.reset();
    this.events.emit('RESET', { guest: false, reason: 'host-qmp-system-reset' });
  }

  powerdown(): void {
    this.events.emit('POWERDOWN');
    this.machine.powerdown();
  }

  quit(): void {
    this.shutdown('host-qmp-quit');
    this.machine.quit();
  }

  /** The SHUTDOWN event, once, whoever ends the machine. */
  shutdown(reason: ShutdownReason): void {
    if (this.shutdownSent) return;
    this.shutdownSent = true;
    this.events.emit('SHUTDOWN', { guest: reason === 'guest-shutdown', reason });
  }
}
