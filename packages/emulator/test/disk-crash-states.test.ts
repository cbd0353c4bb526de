// Guest writes through the emulator's disk path (V86Disk over a qcow2 node opened as the emulator
// opens its drives: through the block layer, cache writeback, over a backing file), recorded in
// process (TESSERA_WRITE_LOG), and every state a process crash or a power loss could leave
// checked with qemu-img check: no corruption, no check error.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BlockLayer } from '../../core/src/block/layer.ts';
import { BlockDriverRegistry } from '../../core/src/block/registry.ts';
import { WriteLog } from '../../core/src/block/write-log.ts';
import { fileProtocol } from '../../modules/block-file/src/file-protocol.ts';
import { qcow2Format } from '../../modules/block-qcow2/src/format.ts';
import { rawFormat } from '../../modules/block-raw/src/raw-format.ts';
import { checkCrashStates, qcow2DataRanges, snapshotFiles } from '../../../tools/test-support/crash-states.ts';
import { describeReport } from '../../../tools/test-support/recorded-run.ts';
import { readWriteLog } from '../../../tools/test-support/write-log.ts';
import { closeDrives, type OpenDrive } from '../src/disk/open-drives.ts';
import { V86Disk } from '../src/disk/v86-disk.ts';

let dir: string;
const SIZE = 2 * 2 ** 20;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-disk-crash-'));
  writeFileSync(join(dir, 'backing.raw'), randomBytes(SIZE));
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4k', '-b', 'backing.raw', '-F', 'raw', 'disk.qcow2', String(SIZE)], { cwd: dir });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * What a guest's filesystem does: its superblock rewritten again and again, a journal written
 * sequentially in 4 KiB blocks, data blocks of 512 bytes to 16 KiB scattered over the disk (into
 * clusters the backing file fills: copy on write), some rewritten, some zeroed.
 */
function guestWrites(): Array<[number, Uint8Array]> {
  const writes: Array<[number, Uint8Array]> = [];
  let journal = 64 * 1024;
  for (let step = 0; step < 40; step++) {
    writes.push([1024, randomBytes(512)]); // the superblock
    writes.push([journal, randomBytes(4096)]);
    journal += 4096;
    const sectors = [1, 8, 32, 3][step % 4]!;
    const at = ((step * 7919 * 512) % (SIZE - 64 * 1024)) + 256 * 1024;
    writes.push([Math.min(at, SIZE - sectors * 512), step % 9 === 8 ? new Uint8Array(sectors * 512) : randomBytes(sectors * 512)]);
  }
  return writes;
}

it('guest writes through V86Disk: every crash state is consistent', async () => {
  const logPath = join(dir, 'run.log');
  const initial = snapshotFiles(dir, ['disk.qcow2']);
  process.env.TESSERA_WRITE_LOG = logPath;
  try {
    const registry = new BlockDriverRegistry();
    registry.registerProtocol(fileProtocol);
    registry.registerFormat(qcow2Format);
    registry.registerFormat(rawFormat);
    const layer = new BlockLayer(registry, async () => false);
    const node = await layer.open(join(dir, 'disk.qcow2'), { format: 'qcow2' });
    const errors: Error[] = [];
    const disk = new V86Disk(node, (error) => errors.push(error));
    for (const [offset, data] of guestWrites()) disk.set(offset, data);
    // The emulator's shutdown: pending writes land, flush, close.
    await closeDrives([{ node, disk } as unknown as OpenDrive]);
    expect(errors).toEqual([]);
  } finally {
    delete process.env.TESSERA_WRITE_LOG;
    WriteLog.closeAll();
  }
  const report = await checkCrashStates({
    dir,
    initial,
    log: readWriteLog(logPath),
    check: ['disk.qcow2'],
    powerLoss: true,
    dataRanges: new Map([['disk.qcow2', qcow2DataRanges(dir, 'disk.qcow2')]]),
  });
  console.log(describeReport('guest writes through V86Disk', report));
  expect(report.failures, report.failures.join('\n')).toEqual([]);
  expect(report.checked).toBeGreaterThan(10);
}, 300_000);
