// layout.ts: each field decoded in one place, so the two ways a codec may be taken (64-bit BigInt
// entries, and the 32-bit halves of the hot paths) must agree on every entry, and what is encoded
// must decode to itself. Property tests over all bit patterns (no image needed).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  OFLAG_COMPRESSED, OFLAG_COPIED, clusterType, compressedClusters, decodeCompressed, decodeL2Entry, encodeCompressed, entryBytes, geometry, guestPosition,
  hostOffsetOfHalves, l1EntriesFor, l2HostOffset, ownedEntry, setOwnedEntryHalves, tableBytes, decodeTable,
} from '../src/layout.ts';

const entry = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const halves = (value: bigint) => {
  const view = new DataView(entryBytes(value).buffer);
  return [view.getUint32(0), view.getUint32(4)] as const;
};

describe('layout codecs', () => {
  it('an L2 entry read as two halves gives the host offset the 64-bit decoder gives', () => {
    fc.assert(fc.property(entry, (value) => hostOffsetOfHalves(...halves(value)) === l2HostOffset(value)));
  });

  it('an owned entry written as two halves is the 64-bit one, COPIED set', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 47 - 1 }).map((n) => n * 512), (host) => {
        const view = new DataView(new ArrayBuffer(8));
        setOwnedEntryHalves(view, 0, host);
        return view.getBigUint64(0) === ownedEntry(host) && (ownedEntry(host) & OFLAG_COPIED) !== 0n;
      }),
    );
  });

  it('a compressed descriptor decodes to the bytes it was encoded for, in every cluster size', () => {
    fc.assert(
      fc.property(fc.integer({ min: 9, max: 21 }), fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 1, max: 4096 }), (clusterBits, host, wanted) => {
        const cs = 2 ** clusterBits;
        const length = Math.min(wanted, cs); // QEMU stores compressed clusters shorter than a cluster
        const descriptor = encodeCompressed(host, length, clusterBits);
        const { host: decoded, sectors } = decodeCompressed(descriptor, clusterBits);
        const mapping = decodeL2Entry(descriptor, clusterBits, false);
        expect(descriptor & OFLAG_COMPRESSED).toBe(OFLAG_COMPRESSED);
        expect(decoded).toBe(BigInt(host));
        expect(clusterType(descriptor, false, false)).toBe('compressed');
        // The sectors reach from the host offset's sector to the one holding its last byte.
        expect(Math.floor(host / 512) + sectors).toBe(Math.floor((host + length - 1) / 512) + 1);
        expect(mapping).toEqual({ kind: 'compressed', hostOffset: host, compressedLength: sectors * 512 - (host % 512) });
        const [first, count] = compressedClusters(host, length, cs);
        expect([first, first + count - 1]).toEqual([Math.floor(host / cs), Math.floor((host + length - 1) / cs)]);
      }),
    );
  });

  it('compressed bytes that end on a sector boundary take no extra sector (as QEMU counts nb_csectors)', () => {
    // 512 bytes from a sector start: one sector; one byte more, or one byte in, reaches a second.
    expect(decodeCompressed(encodeCompressed(1024, 512, 16), 16).sectors).toBe(1);
    expect(decodeCompressed(encodeCompressed(1024, 513, 16), 16).sectors).toBe(2);
    expect(decodeCompressed(encodeCompressed(1025, 512, 16), 16).sectors).toBe(2);
  });

  it('tables of entries round-trip through their bytes', () => {
    fc.assert(fc.property(fc.array(entry, { maxLength: 64 }), (entries) => decodeTable(tableBytes(entries)).every((value, i) => value === entries[i])));
  });

  it('the walk from a guest offset lands on the entry of its cluster, and the L1 table covers the size', () => {
    fc.assert(
      fc.property(fc.integer({ min: 9, max: 21 }), fc.boolean(), fc.integer({ min: 0, max: 2 ** 50 }), (clusterBits, extendedL2, offset) => {
        const g = geometry({ clusterBits, extendedL2: extendedL2 && clusterBits >= 14 });
        const { cluster, l1Index, l2At, inCluster } = guestPosition(g, offset);
        expect(cluster * g.clusterSize + inCluster).toBe(offset);
        expect(l1Index * g.l2Entries + l2At / g.l2EntrySize).toBe(cluster);
        expect(l1Index).toBeLessThan(l1EntriesFor(offset + 1, g.clusterSize, g.extendedL2));
        expect(l1EntriesFor(offset + 1, g.clusterSize, g.extendedL2)).toBe(Math.ceil((offset + 1) / g.l2Reach));
      }),
    );
  });
});
