import { writeFileSync } from 'node:fs';
import { seeded } from './memory-node.ts';

/**
 * A small raw disk whose data and zero runs interleave finely (text markers, random and patterned
 * sectors, long and short zero stretches), for format tests' fixtures. Deterministic per seed.
 */
export function fragmentedRaw(path: string, size: number, seed: number): Buffer {
  const bytes = Buffer.alloc(size);
  const next = seeded(seed);
  for (let at = 0; at < size; ) {
    const run = 512 * (1 + (next() % 24));
    const kind = next() % 4;
    const end = Math.min(size, at + run);
    if (kind === 1) for (let i = at; i < end; i++) bytes[i] = next() & 0xff;
    else if (kind === 2) for (let i = at; i < end; i++) bytes[i] = (i >> 9) & 0xff;
    else if (kind === 3) bytes.write(`run at ${at}`, at, 'latin1');
    at = end;
  }
  writeFileSync(path, bytes);
  return bytes;
}
