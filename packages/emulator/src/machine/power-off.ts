import type { V86Cpu } from './v86-internals.ts';

const POLL_MS = 250;
/** Polls in a row the CPU must stay halted: SeaBIOS and kernels may `cli; hlt` for a moment. */
const STEADY_POLLS = 4;
const IF_FLAG = 0x200;

/**
 * A guest that powers off without ACPI (`-machine acpi=off`, or an OS that does not use it; the
 * ACPI soft-off is caught in acpi.ts) ends up halted with interrupts disabled,
 * from which nothing but a reset can wake it. Treat that state, seen steadily for a second, as
 * the machine switching itself off. Only while `isRunning()`: a CPU the monitor stopped (or -S
 * holds) keeps whatever state it had, which is no power-off. The watch goes on after a power-off,
 * for a machine that is reset and runs again (-no-shutdown). Returns a function that stops watching.
 */
export function watchForPowerOff(cpu: V86Cpu, isRunning: () => boolean, onPowerOff: () => void): () => void {
  let steady = 0;
  const timer = setInterval(() => {
    const halted = isRunning() && cpu.in_hlt[0] === 1 && (cpu.flags[0]! & IF_FLAG) === 0;
    steady = halted ? steady + 1 : 0;
    if (steady >= STEADY_POLLS) {
      steady = 0;
      onPowerOff();
    }
  }, POLL_MS);
  return () => clearInterval(timer);
}
