// A backing chain that comes back to one of its images (a -> b -> a, an image naming itself, a
// link to an image of the chain, a directory linked into itself) is refused once, in qemu-img
// info --backing-chain's words, by every command that opens the chain; the images are untouched.
import { execFileSync } from 'node:child_process';
import { readFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { asTessera, configurations, qemuImg, tempDir, tool } from './helpers.ts';

const configuration = configurations[0]!;
let dir: string;

/** A qcow2 image named `name` whose backing file is recorded as `backing`. */
function image(name: string, backing: string): void {
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', join(dir, name), '1M']);
  execFileSync('qemu-img', ['rebase', '-u', '-b', backing, '-F', 'qcow2', join(dir, name)]);
}

beforeAll(async () => {
  dir = await tempDir();
  image('a.qcow2', 'b.qcow2');
  image('b.qcow2', 'a.qcow2');
  image('self.qcow2', 'self.qcow2');
  await symlink('a.qcow2', join(dir, 'link.qcow2'));
  image('c.qcow2', 'link.qcow2'); // c -> link (= a) -> b -> a
  await symlink('.', join(dir, 'here'));
  image('deep.qcow2', 'here/deep.qcow2'); // a new name at every step, the same file
});

describe('a backing chain that loops', () => {
  it.each(['a.qcow2', 'self.qcow2', 'c.qcow2'])('info --backing-chain %s: as qemu-img', async (name) => {
    const [qemu, ours] = await Promise.all([qemuImg(['info', '--backing-chain', name], dir), tool(configuration, ['info', '--backing-chain', name], dir)]);
    expect(qemu.code).toBe(1);
    expect(qemu.stderr).toMatch(/creates an infinite loop/);
    expect(ours).toEqual(asTessera(qemu));
  });

  it('info --backing-chain through a directory linked into itself: found by the file, said once', async () => {
    const ours = await tool(configuration, ['info', '--backing-chain', 'deep.qcow2'], dir);
    expect(ours).toEqual({ code: 1, stdout: '', stderr: "tessera-img: Backing file 'here/deep.qcow2' creates an infinite loop.\n" });
  });

  // (qemu-img 7.2 itself opens such a chain until memory runs out: its info message is the model.)
  it.each([
    [['convert', '-O', 'raw', 'a.qcow2', 'out.raw'], "Backing file 'a.qcow2'"],
    [['check', 'self.qcow2'], "Backing file 'self.qcow2'"],
    [['map', 'c.qcow2'], "Backing file 'a.qcow2'"],
    [['compare', 'a.qcow2', 'b.qcow2'], "Backing file 'a.qcow2'"],
    [['commit', 'a.qcow2'], "Backing file 'a.qcow2'"],
    [['resize', 'self.qcow2', '2M'], "Backing file 'self.qcow2'"],
    [['convert', '-O', 'raw', 'deep.qcow2', 'out.raw'], "Backing file 'here/deep.qcow2'"],
  ])('%j: refused once, by name, the images untouched', async (args, named) => {
    const before = await Promise.all(['a.qcow2', 'b.qcow2', 'self.qcow2'].map((name) => readFile(join(dir, name))));
    const ours = await tool(configuration, args, dir);
    expect(ours.stderr).toBe(`tessera-img: ${named} creates an infinite loop.\n`);
    expect(ours.code).toBe(args[0] === 'compare' ? 2 : 1);
    const after = await Promise.all(['a.qcow2', 'b.qcow2', 'self.qcow2'].map((name) => readFile(join(dir, name))));
    expect(after).toEqual(before);
  });
});
