import type { DisplayBackend, Host } from '@tessera/core';
import type { DisplayConfig } from '../machine/config.ts';
import { StartupError } from '../machine/startup-error.ts';

/**
 * Find the display backend (`-display TYPE`), loading its module. Done before the machine is
 * built: an unknown or refused display must fail before any boot work, and graphics capture is
 * set up only when a display exists.
 */
export async function findDisplay(host: Host, display: DisplayConfig): Promise<DisplayBackend | undefined> {
  if (display.type === 'none') return undefined;
  let backend: DisplayBackend | undefined;
  try {
    backend = await host.ui.display(display.type);
  } catch (error) {
    // The module is missing, refused (tampered, foreign build) or failed: the loader says which.
    throw new StartupError(`${display.origin}: ${(error as Error).message}`, { cause: error });
  }
  if (!backend) throw new StartupError(`${display.origin}: Parameter 'type' does not accept value '${display.type}'`);
  for (const key of Object.keys(display.options)) {
    if (!backend.options?.includes(key)) throw new StartupError(`${display.origin}: Invalid parameter '${key}'`);
  }
  return backend;
}
