import { BlockError } from './errors.ts';
import type { BlockSecrets } from './types.ts';

/**
 * The secrets the user defined (`--object secret,id=…`), by id, handed to drivers at open and
 * create. Copies go out, so a driver that wipes its copy leaves the next opener's intact.
 */
export class SecretRegistry implements BlockSecrets {
  private readonly values = new Map<string, Uint8Array>();

  define(id: string, value: Uint8Array): void {
    this.values.set(id, value.slice());
  }

  secret(id: string): Uint8Array {
    const value = this.values.get(id);
    // qemu's words (and the option that names a secret is an option: `invalid-option`).
    if (value === undefined) throw new BlockError(`No secret with id '${id}'`, { code: 'invalid-option' });
    return value.slice();
  }
}
