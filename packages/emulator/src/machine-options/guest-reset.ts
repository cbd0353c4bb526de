import type { V86Cpu } from '../machine/v86-internals.ts';

/** Per CPU: what to do instead of v86's reset. */
const interceptors = new WeakMap<object, () => void>();
const patched = new WeakSet<object>();

/**
 * Call `onReset` instead of resetting when the guest resets the machine (keyboard controller
 * 0xFE, PCI reset register 0xCF9: v86's `reboot_internal`), for `-no-reboot`. v86 seals its
 * objects, so the hook goes on the CPU's prototype and acts only for CPUs registered here.
 * Returns a function that lets resets through again.
 */
export function interceptGuestReset(cpu: V86Cpu, onReset: () => void): () => void {
  const prototype = Object.getPrototypeOf(cpu) as { reboot_internal(this: object): void };
  if (!patched.has(prototype)) {
    patched.add(prototype);
    const reboot = prototype.reboot_internal;
    if (typeof reboot !== 'function') throw new Error('internal error: v86 has no reboot_internal (v86 upgraded?)');
    prototype.reboot_internal = function (this: object) {
      const intercept = interceptors.get(this);
      if (intercept) intercept();
      else reboot.call(this);
    };
  }
  interceptors.set(cpu, onReset);
  return () => interceptors.delete(cpu);
}
