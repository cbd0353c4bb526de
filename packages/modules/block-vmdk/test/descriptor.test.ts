// The descriptor's CID lines are printed as qemu prints them (%x, unpadded): a random CID below
// 0x10000000 (one image in sixteen) has fewer than eight digits, and we must write the same bytes.
import { describe, expect, it } from 'vitest';
import { formatDescriptor, parseDescriptor } from '../src/descriptor.ts';

const fields = (cid: number, parentCid = 0xffffffff) => ({
  cid,
  parentCid,
  createType: 'monolithicSparse',
  extents: [{ access: 'RW' as const, sectors: 2048, type: 'SPARSE' as const, fileName: 'disk.vmdk', offset: 0 }],
  ddb: [['ddb.virtualHWVersion', '4']] as const,
});

describe('descriptor CIDs', () => {
  it.each([0, 0xabc, 0x0fffffff, 0x10000000, 0xfffffffe])('CID %i is written unpadded and read back', (cid) => {
    const text = formatDescriptor(fields(cid, ((cid ^ 0x1) >>> 0)));
    expect(text).toContain(`\nCID=${cid.toString(16)}\n`);
    expect(text).toContain(`\nparentCID=${(((cid ^ 0x1) >>> 0)).toString(16)}\n`);
    const parsed = parseDescriptor(text, 'disk.vmdk');
    expect(parsed.cid).toBe(cid);
    expect(parsed.parentCid).toBe(((cid ^ 0x1) >>> 0));
  });
});
