// A probed raw image refuses writes that would make its first (or last) sector look like another
// format; everything else is written. On a real file through the file protocol and raw driver.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { guardProbedRaw } from '../src/block/probe/raw-guard.ts';
import { probeFormat } from '../src/block/probe/probe.ts';
import { signatureTable } from '../src/block/probe/signatures.ts';
import type { BlockNode } from '../src/block/types.ts';
import { fileProtocol } from '../../modules/block-file/src/file-protocol.ts';
import { rawFormat } from '../../modules/block-raw/src/raw-format.ts';

const dir = mkdtempSync(join(tmpdir(), 'tessera-guard-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The signatures tessera-img probes with: every module's (from its package metadata) and core's table. */
const modulesDir = join(import.meta.dirname, '../../modules');
const signatures = signatureTable({
  modules: readdirSync(modulesDir)
    .filter((name) => existsSync(join(modulesDir, name, 'package.json')))
    .map((name) => JSON.parse(readFileSync(join(modulesDir, name, 'package.json'), 'utf8')).tessera)
    .filter((manifest) => manifest?.signatures !== undefined),
});

const SIZE = 64 * 1024;
const QCOW2_HEAD = Uint8Array.from([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3]);
const VHD_COOKIE = new TextEncoder().encode('conectix');

async function openGuarded(name: string, content = Buffer.alloc(SIZE, 0xa5)): Promise<{ path: string; node: BlockNode }> {
  const path = join(dir, name);
  writeFileSync(path, content);
  const file = await fileProtocol.open(path, { readOnly: false, driverOptions: {} });
  expect(await probeFormat(file, signatures)).toBe('raw');
  return { path, node: guardProbedRaw(await rawFormat.open(file, { readOnly: false, driverOptions: {} }), signatures) };
}

async function refusal(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

it('refuses a whole qcow2 header, and one forged from two partial writes; the file keeps its bytes', async () => {
  const { path, node } = await openGuarded('head.raw');
  const before = readFileSync(path);
  const sector = new Uint8Array(512);
  sector.set(QCOW2_HEAD);
  expect(await refusal(node.write(0, sector))).toBe('EPERM');
  // Bytes 0-3 alone (version still 0xa5a5a5a5, a qcow2 version >= 2) already make a qcow2 header.
  expect(await refusal(node.write(0, QCOW2_HEAD.subarray(0, 4)))).toBe('EPERM');
  // Version 0 first (not a format), then the magic: the second write is judged on the first's result.
  await node.write(4, new Uint8Array(4));
  expect(await refusal(node.write(0, QCOW2_HEAD.subarray(0, 4)))).toBe(undefined); // QFI\xfb version 0: no format
  expect(await refusal(node.write(7, Uint8Array.of(2)))).toBe('EPERM'); // now version 2 would make it qcow2
  // Concurrent partial writes are judged one after the other.
  await node.write(0, new Uint8Array(8));
  const results = await Promise.all([refusal(node.write(0, QCOW2_HEAD.subarray(0, 4))), refusal(node.write(4, QCOW2_HEAD.subarray(4)))]);
  expect(results).toEqual([undefined, 'EPERM']);
  await node.close();
  const after = readFileSync(path);
  expect(after.subarray(0, 8)).toEqual(Buffer.from([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 0]));
  expect(after.subarray(8).equals(before.subarray(8))).toBe(true);
});

it('writes everything that keeps the image raw, sector 0 included', async () => {
  const { path, node } = await openGuarded('ok.raw');
  const mbr = new Uint8Array(512).fill(0x11);
  mbr[510] = 0x55;
  mbr[511] = 0xaa;
  await node.write(0, mbr);
  await node.write(4096, new Uint8Array(8192).fill(0x22));
  await node.write(SIZE - 512, new Uint8Array(512).fill(0x33));
  await node.close();
  const after = readFileSync(path);
  expect(after.subarray(0, 512).equals(Buffer.from(mbr))).toBe(true);
  expect(after.subarray(4096, 12288).every((b) => b === 0x22)).toBe(true);
  expect(after.subarray(SIZE - 512).every((b) => b === 0x33)).toBe(true);
});

it('refuses a fixed-VHD footer in the last sector, by a write or by a shrink that makes it last', async () => {
  const content = Buffer.alloc(SIZE, 0);
  content.set(VHD_COOKIE, SIZE / 2 - 512); // inside the disk: harmless while it is not the last sector
  const { path, node } = await openGuarded('tail.raw', content);
  expect(await refusal(node.write(SIZE - 512, VHD_COOKIE))).toBe('EPERM');
  expect(await refusal(node.write(SIZE - 600, new Uint8Array(600).fill(1).fill(0x63, 88, 89)))).toBe(undefined);
  expect(await refusal(node.resize!(SIZE / 2, { shrink: true }))).toBe('EPERM');
  await node.resize!(SIZE / 2 + 512, { shrink: true });
  await node.close();
  expect(readFileSync(path).length).toBe(SIZE / 2 + 512);
});

it('the guarded node is the raw node otherwise, and says it was probed', async () => {
  const { node } = await openGuarded('same.raw');
  expect(node.driver).toBe('raw');
  expect(node.size).toBe(SIZE);
  expect(node.probed).toBe(true);
  expect(typeof node.blockStatus).toBe('function');
  await node.close();
});
