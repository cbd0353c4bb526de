// PBKDF2 with the bound on iteration counts read from untrusted headers, and the calibration
// that turns create's iter-time (milliseconds) into counts, as qemu and cryptsetup do.
import { pbkdf2, pbkdf2Sync } from 'node:crypto';
import { promisify } from 'node:util';
import { codedError } from './errors.ts';

const derive = promisify(pbkdf2);

/**
 * The most PBKDF2 iterations one count of a header may ask for (2^24, about 12 s of sha256 here),
 * and the most one open may spend over all its key slots (2^26). The counts are u32: a hostile
 * header could otherwise ask for 4 billion iterations per slot, eight slots — hours. Images
 * qemu-img or cryptsetup make with their default 2 s iter-time hold a few million at most.
 */
export const MAX_ITERATIONS = 2 ** 24;
export const MAX_ITERATIONS_PER_OPEN = 2 ** 26;

/** Spends PBKDF2 iterations against the per-open budget. */
export class IterationBudget {
  private spent = 0;
  constructor(readonly limit = MAX_ITERATIONS_PER_OPEN, readonly perCount = MAX_ITERATIONS) {}

  async derive(what: string, password: Uint8Array, salt: Uint8Array, iterations: number, length: number, hash: string): Promise<Uint8Array> {
    if (iterations > this.perCount) {
      throw codedError(
        `LUKS ${what} asks for ${iterations} PBKDF2 iterations, more than the ${this.perCount} this program accepts (a hostile header could make opening take hours)`,
        'unsupported-feature',
      );
    }
    if (this.spent + iterations > this.limit) {
      throw codedError(`LUKS key slots ask for more than ${this.limit} PBKDF2 iterations in all; opening stopped there (a hostile header?)`, 'unsupported-feature');
    }
    this.spent += iterations;
    return new Uint8Array(await derive(password, salt, iterations, length, hash));
  }
}

/** PBKDF2 iterations of `hash` this machine computes per second (a ~50 ms measurement). */
export function iterationsPerSecond(hash: string): number {
  const salt = new Uint8Array(32);
  for (let iterations = 1 << 10; ; iterations *= 2) {
    const started = performance.now();
    pbkdf2Sync('calibration', salt, iterations, 32, hash);
    const elapsed = performance.now() - started;
    if (elapsed >= 50 || iterations >= MAX_ITERATIONS) return (iterations * 1000) / Math.max(elapsed, 1);
  }
}

/** qemu's (and cryptsetup's) floor for a key slot's PBKDF2 count. */
const MIN_SLOT_ITERATIONS = 1000;

/** A key slot's PBKDF2 count for `iterTime` ms here (create and amend), refused beyond what opening accepts. */
export function slotIterationCount(hash: string, iterTime: number): number {
  const iterations = Math.max(MIN_SLOT_ITERATIONS, Math.floor((iterationsPerSecond(hash) * iterTime) / 1000));
  if (iterations > MAX_ITERATIONS) {
    throw codedError(`iter-time=${iterTime} needs ${iterations} PBKDF2 iterations here, more than the ${MAX_ITERATIONS} this program accepts when opening; use a smaller iter-time`, 'invalid-option');
  }
  return iterations;
}
