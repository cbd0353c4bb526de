// The declared signatures (every module package's `tessera.signatures` and core's table for the
// formats no module provides), matched as the probe and the probed-raw guard match them: each
// format qemu-img 7.2 probes, at the edges of its rule (qcow's and qcow2's version field,
// parallels' version, bochs' two magics, vmdk's text descriptor, the trailers, qemu's .dmg name).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { signatureTable, UNPROVIDED_SIGNATURES } from '../src/block/probe/signatures.ts';
import type { ModuleListEntry } from '../src/module/types.ts';

const modulesDir = join(import.meta.dirname, '../../modules');
const manifests = readdirSync(modulesDir)
  .filter((dir) => existsSync(join(modulesDir, dir, 'package.json')))
  .map((dir) => JSON.parse(readFileSync(join(modulesDir, dir, 'package.json'), 'utf8')).tessera as ModuleListEntry);
const table = signatureTable({ modules: manifests });

const sector = (text: string, size = 512): Uint8Array => {
  const bytes = new Uint8Array(size);
  bytes.set(Uint8Array.from(text.slice(0, size), (c) => c.charCodeAt(0)));
  return bytes;
};
const at = (offset: number, text: string): string => '\0'.repeat(offset) + text;

it('recognises each format by its first sector, exactly at the edges of its rule', () => {
  const cases: [string, string | undefined][] = [
    ['QFI\xfb\0\0\0\x03', 'qcow2'],
    ['QFI\xfb\0\0\0\x02', 'qcow2'],
    ['QFI\xfb\xff\xff\xff\xff', 'qcow2'],
    ['QFI\xfb\0\0\0\x01', 'qcow'],
    ['QFI\xfb\0\0\0\0', undefined],
    ['QED\0', 'qed'],
    ['QED!', undefined],
    ['KDMV', 'vmdk'],
    ['COWD', 'vmdk'],
    ['# Disk DescriptorFile\nversion=1\n', 'vmdk'],
    ['\n  \r\n#c\nversion=3\r\n', 'vmdk'],
    ['version=4\n', undefined],
    ['# x\nx\nversion=1\n', undefined],
    [' \rversion=1\n', undefined],
    ['#\nversion=1', undefined],
    [at(64, '\x7f\x10\xda\xbe'), 'vdi'],
    ['conectix', 'vpc'],
    ['vhdxfile', 'vhdx'],
    ['WithoutFreeSpace\x02\0\0\0', 'parallels'],
    ['WithouFreSpacExt\x02\0\0\0', 'parallels'],
    ['WithoutFreeSpace\x03\0\0\0', undefined],
    ['LUKS\xba\xbe', 'luks'],
    ['Bochs Virtual HD Image\0' + '\0'.repeat(9) + 'Redolog\0', 'bochs'],
    ['Bochs Virtual HD Image\0' + '\0'.repeat(9) + 'Redolog!', undefined],
    ['Bochs Virtual HD Image!' + '\0'.repeat(9) + 'Redolog\0', undefined],
    ['#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=$0 && mount -r -t iso9660 /dev/cloop $1\n', 'cloop'],
    ['#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=$0 && mount -r -t iso9660 /dev/cloop $1', undefined],
    ['koly', undefined],
    ['', undefined],
  ];
  for (const [text, format] of cases) expect(table.formatOfFirstSector(sector(text)), JSON.stringify(text)).toBe(format);
  // A short image (a sector cut by the end of the file) matches only what fits.
  expect(table.formatOfFirstSector(sector('QFI\xfb\0\0\0\x02', 8))).toBe('qcow2');
  expect(table.formatOfFirstSector(sector('QFI\xfb\0\0\0', 7))).toBe(undefined);
  // Magic at offset 0 names the format before vdi's field at 64.
  expect(table.formatOfFirstSector(sector('conectix' + at(56, '\x7f\x10\xda\xbe')))).toBe('vpc');
});

it('recognises trailers in the last sector, and qemu-s .dmg name rule', () => {
  expect(table.formatOfLastSector(sector('conectix'))).toBe('vpc');
  expect(table.formatOfLastSector(sector('koly'))).toBe('dmg');
  expect(table.formatOfLastSector(sector(at(1, 'koly')))).toBe(undefined);
  expect(table.formatOfLastSector(sector('QFI\xfb\0\0\0\x02'))).toBe(undefined);
  for (const [name, format] of [['a.dmg', 'dmg'], ['dir/b.dmg', 'dmg'], ['.dmg', undefined], ['a.DMG', undefined], ['a.dmg.raw', undefined]] as const) {
    expect(table.formatOfName(name), name).toBe(format);
  }
});

it("covers every format qemu-img 7.2 probes: each from one place, a module's metadata or core's table", () => {
  const fromModules = new Set(manifests.flatMap((m) => m.signatures ?? []).map((s) => s.format));
  const fromCore = new Set(UNPROVIDED_SIGNATURES.map((s) => s.format));
  expect([...fromModules].filter((format) => fromCore.has(format))).toEqual([]);
  expect(new Set([...fromModules, ...fromCore])).toEqual(new Set(['qcow2', 'qcow', 'qed', 'vmdk', 'vdi', 'vpc', 'vhdx', 'parallels', 'luks', 'bochs', 'cloop', 'dmg']));
});
