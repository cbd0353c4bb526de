/**
 * The ACPI power-management events of QEMU's PIIX4 on v86's ACPI device (v86 0.5.462, `acpi:
 * true`: its PM1 event block at 0xB000 and PM1a control at 0xB004, the SCI on IRQ 9; SeaBIOS
 * builds the FADT/DSDT that point the guest there). v86 models only the PM timer; added from
 * outside, through its port table and device fields, without touching its code:
 * - the power button (`system_powerdown`): PWRBTN_STS set and the SCI raised while the guest has
 *   PWRBTN_EN on, as QEMU's acpi_pm1_evt_power_down — nothing when the guest does not listen;
 * - sleep requests: SLP_EN with SLP_TYP 0 in PM1a_CNT is the soft power-off (S5) of SeaBIOS's
 *   DSDT, which QEMU takes as the guest's shutdown.
 */
import type { V86Cpu } from './v86-internals.ts';

const PM1_CONTROL_PORT = 0xb004;
const PWRBTN = 1 << 8; // PWRBTN_STS in PM1_STS, PWRBTN_EN in PM1_EN
const SLP_EN = 1 << 13;
const SLP_TYP_SHIFT = 10;
const SLP_TYP_SOFT_OFF = 0;
const SCI_IRQ = 9;
/** QEMU's PIIX4 PCI hotplug registers (PCI_UP, PCI_DOWN, eject, PCI_RMV), which SeaBIOS's SSDT reads. */
const PCI_HOTPLUG_PORTS = 0xae00;
const PCI_HOTPLUG_LENGTH = 16;

/** v86's ACPI device (src/acpi.js) as far as it is used here. */
interface V86Acpi {
  pm1_status: number;
  pm1_enable: number;
  timer(now: number): number;
}

interface PortEntry {
  write16(this: unknown, value: number): void;
  device: unknown;
}

interface AcpiCpu {
  io: { ports: PortEntry[]; register_read(port: number, device: object, r8: () => number, r16: () => number, r32: () => number): void };
  devices: { acpi?: V86Acpi };
  device_raise_irq(irq: number): void;
}

export interface AcpiEvents {
  /** Press the power button; false when the machine has no ACPI (`-machine acpi=off`). */
  pressPowerButton(): boolean;
}

/**
 * Wire the power button and S5 power-off into v86's ACPI device; `onPowerOff` is called when the
 * guest asks for soft-off. Without the device (ACPI off) the button does nothing.
 */
export function attachAcpiEvents(v86Cpu: V86Cpu, onPowerOff: () => void): AcpiEvents {
  const cpu = v86Cpu as unknown as AcpiCpu;
  const acpi = cpu.devices.acpi;
  if (!acpi) return { pressPowerButton: () => false };
  if (typeof acpi.timer !== 'function' || typeof acpi.pm1_status !== 'number' || !cpu.io?.ports?.[PM1_CONTROL_PORT]) {
    throw new Error('internal error: v86 has no ACPI PM1 registers where expected (v86 upgraded?)');
  }

  // The SCI is level-triggered: v86's timer lowers IRQ 9 on every tick where its PM timer has not
  // overflowed, so it is raised again after each tick for as long as the button's status is
  // pending and enabled (the guest's handler clears it by writing 1 to PWRBTN_STS).
  const timer = acpi.timer;
  acpi.timer = function (this: V86Acpi, now: number): number {
    const next = timer.call(this, now);
    if (this.pm1_status & this.pm1_enable & PWRBTN) cpu.device_raise_irq(SCI_IRQ);
    return next;
  };

  // v86 has no PCI hotplug registers: unmapped ports read all ones, which the DSDT/SSDT's
  // hotplug methods take as "every slot removed" — Linux's acpiphp then ejected the IDE
  // controller (no disk). Read as QEMU's with nothing plugged or unplugged: zero.
  const hotplug = {};
  for (let port = PCI_HOTPLUG_PORTS; port < PCI_HOTPLUG_PORTS + PCI_HOTPLUG_LENGTH; port++) cpu.io.register_read(port, hotplug, () => 0, () => 0, () => 0);

  const control = cpu.io.ports[PM1_CONTROL_PORT]!;
  const writeControl = control.write16;
  control.write16 = function (this: unknown, value: number): void {
    writeControl.call(this, value);
    if (value & SLP_EN && ((value >> SLP_TYP_SHIFT) & 7) === SLP_TYP_SOFT_OFF) onPowerOff();
  };

  return {
    pressPowerButton() {
      if (acpi.pm1_enable & PWRBTN) {
        acpi.pm1_status |= PWRBTN;
        cpu.device_raise_irq(SCI_IRQ);
      }
      return true;
    },
  };
}
