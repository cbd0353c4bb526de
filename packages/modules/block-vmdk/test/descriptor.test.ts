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

describe('extent lines', () => {
  const descriptor = (line: string) => ['# Disk DescriptorFile', 'version=1', 'CID=1', 'parentCID=ffffffff', 'createType="vmfs"', line, ''].join('\n');
  it.each(['RW 16 VMFS "disk-flat.vmdk" 0', 'RW 16 SPARSE "disk-s001.vmdk" 0', 'RW 16 VMFSSPARSE "disk-delta.vmdk" 0', 'RW 16 SESPARSE "disk-sesparse.vmdk" 0', 'RW 16 FLAT "disk-flat.vmdk"'])(
    'an offset only on a FLAT extent, as qemu reads them: %s is refused',
    (line) => {
      expect(() => parseDescriptor(descriptor(line), 'disk.vmdk')).toThrow(expect.objectContaining({ code: 'corrupt-image', message: `Could not open 'disk.vmdk': Invalid extent line: ${line}` }));
    },
  );
  it('the extent types of ESX delta disks are read', () => {
    const lines = ['RW 16 VMFS "a-flat.vmdk"', 'RW 16 VMFSSPARSE "a-delta.vmdk"', 'RW 16 SESPARSE "a-sesparse.vmdk"', 'RW 16 FLAT "b" 4'];
    expect(parseDescriptor(descriptor(lines.join('\n')), 'disk.vmdk').extents.map((extent) => [extent.type, extent.offset])).toEqual([['VMFS', 0], ['VMFSSPARSE', 0], ['SESPARSE', 0], ['FLAT', 4]]);
  });
});
