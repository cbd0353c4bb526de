// Where koffi's addon is written to be loaded: a copy kept between runs in <tmpdir>/tessera-<uid>,
// checked against the compiled-in digest before every use; a private copy of the run wherever a
// kept one could be changed or replaced by someone else. Nothing here loads the addon (the interop
// tests load it through the executables).
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import digest from '@koromix/koffi-linux-x64/linux_x64/koffi.node?digest';
import { addonFile } from '../src/ffi/addon-file.ts';

const uid = process.geteuid!();
let root: string;
let kept: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'tessera-addon-file-'));
  kept = join(root, `tessera-${uid}`, `koffi-${digest.sha256}.node`);
});
afterEach(() => {
  chmodSync(root, 0o700);
  rmSync(root, { recursive: true, force: true });
});

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** addonFile(root), checked: the file it gives holds the addon; a private copy is gone once done. */
function take() {
  const file = addonFile(root);
  expect(sha256(file.path)).toBe(digest.sha256);
  file.done();
  expect(existsSync(file.path)).toBe(file.kind !== 'private');
  if (file.kind === 'private') expect(existsSync(dirname(file.path))).toBe(false);
  return file;
}

describe('the kept copy', () => {
  it('is written once, mode 0500 in a directory of mode 0700, then checked and used as it is', () => {
    expect(take()).toMatchObject({ kind: 'written', path: kept });
    expect(statSync(kept).mode & 0o777).toBe(0o500);
    expect(statSync(dirname(kept)).mode & 0o777).toBe(0o700);
    const before = statSync(kept);
    expect(take()).toMatchObject({ kind: 'kept', path: kept });
    expect(statSync(kept)).toMatchObject({ ino: before.ino, mtimeMs: before.mtimeMs });
  });

  it('is written again when its bytes are not the addon: one byte changed, one byte more, cut short, empty', () => {
    const original = (take(), readFileSync(kept));
    const changed = Buffer.from(original);
    changed[changed.length >> 1]! ^= 0xff;
    for (const bytes of [changed, Buffer.concat([original, Buffer.of(0)]), original.subarray(0, original.length - 1), Buffer.alloc(0)]) {
      chmodSync(kept, 0o600);
      writeFileSync(kept, bytes);
      chmodSync(kept, 0o500);
      expect(take()).toMatchObject({ kind: 'written', path: kept });
    }
  });

  it('is written again when others may write to it, or when it is a symbolic link (even to a good copy)', () => {
    take();
    chmodSync(kept, 0o522); // the right bytes, but group and others may write
    expect(take()).toMatchObject({ kind: 'written' });
    expect(statSync(kept).mode & 0o777).toBe(0o500);
    const elsewhere = join(root, 'elsewhere.node');
    writeFileSync(elsewhere, readFileSync(kept));
    rmSync(kept);
    symlinkSync(elsewhere, kept);
    expect(take()).toMatchObject({ kind: 'written' });
    expect(statSync(kept, { throwIfNoEntry: false })?.isFile()).toBe(true);
  });

  it('is left alone for a private copy when a directory stands where it goes', () => {
    mkdirSync(kept, { recursive: true });
    expect(take().kind).toBe('private');
  });
});

describe('a private copy instead, when the kept one could be changed by someone else', () => {
  it('the directory is open to others (0755, 0770)', () => {
    for (const mode of [0o755, 0o770]) {
      mkdirSync(dirname(kept), { recursive: true });
      chmodSync(dirname(kept), mode);
      expect(take().kind).toBe('private');
      rmSync(dirname(kept), { recursive: true });
    }
  });

  it('the directory is a symbolic link, even to a good directory of this user', () => {
    const target = join(root, 'target');
    mkdirSync(target, { mode: 0o700 });
    symlinkSync(target, dirname(kept));
    expect(take().kind).toBe('private');
  });

  // Giving a directory away takes root (CI runs as root).
  it.skipIf(uid !== 0)('the directory belongs to another user', () => {
    mkdirSync(dirname(kept), { mode: 0o700 });
    chownSync(dirname(kept), 65534, 65534);
    expect(take().kind).toBe('private');
  });

  it('others may rename it: its parent is writable by others and not sticky (sticky, as /tmp, is fine)', () => {
    chmodSync(root, 0o777);
    expect(take().kind).toBe('private');
    expect(existsSync(dirname(kept))).toBe(false);
    chmodSync(root, 0o1777);
    expect(take().kind).toBe('written');
  });
});
