// Mutated VHD metadata (footer, dynamic header, BAT): every open either works and reads within
// bounds, or fails with a coded error; never a crash of another kind, a hang or a huge allocation.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vpcFormat } from '../src/driver.ts';
import { footerChecksum } from '../src/footer.ts';
import { dynamicHeaderChecksum } from '../src/dynamic-header.ts';
import { MemoryNode, qemuIo, rng, tempDir } from './helpers.ts';

const { dir, remove } = tempDir('tessera-vpc-fuzz-');
afterAll(remove);
let dynamic: Uint8Array;
let fixed: Uint8Array;

beforeAll(() => {
  for (const [name, subformat] of [['d.vpc', 'dynamic'], ['f.vpc', 'fixed']] as const) {
    execFileSync('qemu-img', ['create', '-q', '-f', 'vpc', '-o', `subformat=${subformat}`, name, '6M'], { cwd: dir });
    qemuIo(dir, name, 'vpc', 'write -P 0x33 0 64k', 'write -P 0x44 4M 8k');
  }
  dynamic = new Uint8Array(readFileSync(join(dir, 'd.vpc')));
  fixed = new Uint8Array(readFileSync(join(dir, 'f.vpc')));
});

/** Re-sign a mutated footer/header so the mutation reaches the checks behind the checksums. */
function resign(bytes: Uint8Array, footerAt: number, headerAt?: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  if (footerAt + 512 <= bytes.length) view.setUint32(footerAt + 64, footerChecksum(bytes.subarray(footerAt, footerAt + 512)));
  if (headerAt !== undefined && headerAt + 1024 <= bytes.length) view.setUint32(headerAt + 36, dynamicHeaderChecksum(bytes.subarray(headerAt, headerAt + 1024)));
}

/** Fields worth hitting: footer size/geometry/type/offset, header table offset/entries/block size, BAT. */
const targets = (image: Uint8Array, isDynamic: boolean): number[] =>
  isDynamic ? [16, 20, 23, 40, 48, 52, 56, 57, 58, 59, 60, 63, 512 + 16, 512 + 22, 512 + 28, 512 + 30, 512 + 32, 512 + 34, 1536, 1537, 1539, 1540, 1543] : [image.length - 512 + 48, image.length - 512 + 52, image.length - 512 + 56, image.length - 512 + 58, image.length - 512 + 60, image.length - 512 + 63];

describe('the vpc parser under mutated metadata', () => {
  it('fails only with coded errors, within bounds, for 400 mutations', async () => {
    const next = rng(0x5eed);
    const outcomes = { opened: 0, refused: 0 };
    for (let round = 0; round < 400; round++) {
      const isDynamic = round % 4 !== 0;
      const image = (isDynamic ? dynamic : fixed).slice();
      const fields = targets(image, isDynamic);
      for (let m = 1 + (next() % 3); m > 0; m--) {
        const at = fields[next() % fields.length]!;
        image[at] = next() % 3 === 0 ? 0xff : next() & 0xff;
      }
      // Most rounds keep the checksums right, so the mutation reaches the field checks.
      if (next() % 8 !== 0) resign(image, isDynamic ? 0 : image.length - 512, isDynamic ? 512 : undefined);
      const file = new MemoryNode(image, `fuzz-${round}.vpc`, true);
      let node;
      try {
        node = await vpcFormat.open(file, { readOnly: true, driverOptions: {} });
      } catch (error) {
        expect((error as { code?: string }).code, String(error)).toMatch(/^(corrupt-image|unsupported-feature)$/);
        outcomes.refused++;
        continue;
      }
      outcomes.opened++;
      // An opened image reads anywhere in its size without reading outside its file.
      expect(node.size).toBeLessThanOrEqual(2040 * 2 ** 30);
      const buffer = new Uint8Array(4096);
      for (const offset of [0, 4 * 2 ** 20, Math.max(0, node.size - 4096)]) {
        if (offset + 4096 <= node.size) await node.read(offset, buffer);
        await node.blockStatus!(offset, 2 ** 20);
      }
    }
    expect(outcomes.refused).toBeGreaterThan(50);
    expect(outcomes.opened).toBeGreaterThan(20);
  });
});
