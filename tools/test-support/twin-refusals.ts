// A refusal compared with qemu-img's: the same command run by both on twin copies of an image,
// the same exit code and output (program name aside), and neither copy changed by it.
import { copyFileSync, readFileSync } from 'node:fs';
import { expect } from 'vitest';
import type { Scratch } from './format-interop.ts';

/**
 * For each argument list (its image named `IMAGE`): run by qemu-img and by `exe` on copies of
 * `image`; results equal and
 * both copies' bytes unchanged.
 */
export async function expectRefusedAlike(s: Scratch, exe: string, image: string, cases: readonly (readonly string[])[]): Promise<void> {
  const original = readFileSync(s.path(image));
  const extension = image.slice(image.lastIndexOf('.'));
  for (const [n, args] of cases.entries()) {
    const theirs = `twin-qemu-${n}${extension}`;
    const ours = `twin-ours-${n}${extension}`;
    copyFileSync(s.path(image), s.path(theirs));
    copyFileSync(s.path(image), s.path(ours));
    const expected = s.qemuImgResult(...args.map((arg) => arg.replaceAll('IMAGE', theirs)));
    const actual = await s.ours(exe, ...args.map((arg) => arg.replaceAll('IMAGE', ours)));
    expect({ args, ...actual, stderr: actual.stderr.replaceAll(ours, 'IMAGE') }).toEqual({ args, ...expected, stderr: expected.stderr.replaceAll(theirs, 'IMAGE') });
    expect(expected.code, `${args.join(' ')}: qemu-img refuses it`).not.toBe(0);
    expect(readFileSync(s.path(ours)).equals(original), `${args.join(' ')}: our copy unchanged`).toBe(true);
    expect(readFileSync(s.path(theirs)).equals(original), `${args.join(' ')}: qemu-img's copy unchanged`).toBe(true);
  }
}
