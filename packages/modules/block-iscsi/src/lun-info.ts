import { iscsiError } from './errors.ts';
import * as S from './scsi.ts';
import type { CommandResult } from './session.ts';

/** What the node knows of the LUN, read once at open (and again after a reconnect). */
export interface LunInfo {
  readonly blockSize: number;
  readonly blocks: number;
  /** Largest transfer in blocks per READ/WRITE (block limits VPD, or our own cap). */
  readonly maxTransferBlocks: number;
  /** The most one READ asks for (MAX_READ_BYTES, or less when the target allows less). */
  readonly maxReadBlocks: number;
  /** WRITE SAME(16) with UNMAP zeroes (LBPWS and LBPRZ), at most this many blocks a command (0: not offered). */
  readonly writeSameUnmapBlocks: number;
  /** UNMAP zeroes (LBPU and LBPRZ), at most this many blocks a descriptor (0: not offered). */
  readonly unmapBlocks: number;
}

type Run = (cdb: Uint8Array, transfer?: { dataIn?: Uint8Array; dataOut?: Uint8Array }) => Promise<CommandResult>;

/**
 * Our own cap on one command's transfer, whatever the target allows: a convert's whole 2 MiB
 * chunk in one write, as qemu-img sends it. A write's data comes in bursts the target asks for
 * (R2T); in 120 KiB commands the round trips cost more than they saved: raw -> iscsi of 1 GiB
 * took 3.7 s against 2.4 s in 2 MiB ones.
 */
const MAX_TRANSFER_BYTES = 2 * 1024 * 1024;

/**
 * Reads are smaller: 120 KiB, under glibc's threshold (128 KiB, page alignment included) from
 * which malloc maps each buffer afresh. tgtd allocates a buffer for each command; a fresh one
 * serving 1 GiB in reads of 128 KiB to 2 MiB (qemu-img's are 2 MiB) took a page fault for every
 * page it sent, 263,000, and 3.6-4.3 s of CPU. In 120 KiB reads, 8 in flight (session.ts):
 * 0-2,400 faults and 0.7-0.9 s, and the copy took 1.8-2.5 s where qemu-img's took 3.1-3.9 s.
 */
const MAX_READ_BYTES = 120 * 1024;

/**
 * TEST UNIT READY (unit attentions after login are expected and retried a few times), INQUIRY
 * (no device at that LUN → unknown LUN), READ CAPACITY(16) falling back to (10), and the block
 * limits / logical block provisioning VPD pages where offered.
 */
export async function probeLun(run: Run, shown: string, lun: number): Promise<LunInfo> {
  const fail = (why: string, code: 'iscsi-no-target' | 'iscsi-protocol' | 'iscsi-check-condition' = 'iscsi-protocol'): never => {
    throw iscsiError(`Could not open '${shown}': iSCSI: ${why}`, code);
  };
  const standard = Buffer.alloc(96);
  const inquiry = await run(S.inquiry(undefined, standard.length), { dataIn: standard });
  const inquirySense = S.decodeSense(inquiry.sense);
  if (inquiry.status !== S.STATUS_GOOD) {
    if (inquirySense?.key === S.SENSE_ILLEGAL_REQUEST && inquirySense.asc === S.ASC_LUN_NOT_SUPPORTED) fail(`the target has no LUN ${lun} (${S.describeSense(inquirySense)})`, 'iscsi-no-target');
    fail(`INQUIRY failed: ${inquirySense ? S.describeSense(inquirySense) : `status 0x${inquiry.status.toString(16)}`}`, 'iscsi-check-condition');
  }
  if (inquiry.received < 1) fail('INQUIRY returned no data');
  const qualifier = standard[0]! >> 5;
  const type = standard[0]! & 0x1f;
  if (qualifier !== 0 || type === 0x1f) fail(`the target has no LUN ${lun}`, 'iscsi-no-target');
  // 0: disk, 5: CD/DVD, 7: optical, 0x0e: RBC — the block devices qemu opens.
  if (![0x00, 0x05, 0x07, 0x0e].includes(type)) fail(`LUN ${lun} is not a block device (peripheral type 0x${type.toString(16)})`, 'iscsi-no-target');

  for (let attempt = 0; ; attempt++) {
    const ready = await run(S.testUnitReady());
    if (ready.status === S.STATUS_GOOD) break;
    const sense = S.decodeSense(ready.sense);
    if (sense?.key === S.SENSE_UNIT_ATTENTION && attempt < 4) continue;
    fail(`LUN ${lun} is not ready: ${sense ? S.describeSense(sense) : `status 0x${ready.status.toString(16)}`}`, 'iscsi-check-condition');
  }

  let blockSize: number;
  let blocks: number;
  let lbpme = false;
  let lbprz = false;
  const capacity = Buffer.alloc(32);
  const rc16 = await run(S.readCapacity16(), { dataIn: capacity });
  if (rc16.status === S.STATUS_GOOD && rc16.received >= 12) {
    const lastLba = capacity.readBigUInt64BE(0);
    blockSize = capacity.readUInt32BE(8);
    if (lastLba >= BigInt(Number.MAX_SAFE_INTEGER)) fail(`READ CAPACITY(16) reported an impossible size (last LBA ${lastLba})`);
    blocks = Number(lastLba) + 1;
    if (rc16.received >= 15) {
      lbpme = (capacity[14]! & 0x80) !== 0;
      lbprz = (capacity[14]! & 0x40) !== 0;
    }
  } else {
    const capacity10 = Buffer.alloc(8);
    const rc10 = await run(S.readCapacity10(), { dataIn: capacity10 });
    if (rc10.status !== S.STATUS_GOOD || rc10.received < 8) {
      const sense = S.decodeSense(rc10.sense);
      fail(`READ CAPACITY failed: ${sense ? S.describeSense(sense) : `status 0x${rc10.status.toString(16)}`}`, 'iscsi-check-condition');
    }
    blocks = capacity10.readUInt32BE(0) + 1;
    blockSize = capacity10.readUInt32BE(4);
  }
  if (!(blockSize >= 512 && blockSize <= 65536 && (blockSize & (blockSize - 1)) === 0)) fail(`the LUN reports an impossible block size ${blockSize}`);
  if (!Number.isSafeInteger(blocks * blockSize)) fail(`the LUN reports an impossible size (${blocks} blocks of ${blockSize} bytes)`);

  let maxTransferBlocks = MAX_TRANSFER_BYTES / blockSize;
  let writeSameUnmapBlocks = 0;
  let unmapBlocks = 0;
  const pages = await vpdPage(run, 0x00, 255);
  const supported = pages ? new Set(pages.subarray(4, 4 + Math.min(pages.readUInt16BE(2), pages.length - 4))) : new Set<number>();
  let limits: Buffer | undefined;
  if (supported.has(0xb0)) {
    limits = await vpdPage(run, 0xb0, 64);
    if (limits && limits.length >= 16) {
      const max = limits.readUInt32BE(8);
      if (max > 0) maxTransferBlocks = Math.min(maxTransferBlocks, max);
    }
  }
  if (lbpme && lbprz && supported.has(0xb2)) {
    const provisioning = await vpdPage(run, 0xb2, 8);
    if (provisioning && provisioning.length >= 6) {
      const lbpu = (provisioning[5]! & 0x80) !== 0;
      const lbpws = (provisioning[5]! & 0x40) !== 0;
      const maxWriteSame = limits && limits.length >= 44 ? Number(limits.readBigUInt64BE(36)) : 0;
      const maxUnmap = limits && limits.length >= 24 ? limits.readUInt32BE(20) : 0;
      // A zero limit means "not stated": keep commands at our own transfer cap then.
      if (lbpws) writeSameUnmapBlocks = Math.min(maxWriteSame || maxTransferBlocks, 0xffffffff, 1 << 22);
      if (lbpu) unmapBlocks = Math.min(maxUnmap || maxTransferBlocks, 0xffffffff, 1 << 22);
    }
  }
  const maxTransfer = Math.max(1, Math.floor(maxTransferBlocks));
  const maxReadBlocks = Math.max(1, Math.min(maxTransfer, Math.floor(MAX_READ_BYTES / blockSize)));
  return { blockSize, blocks, maxTransferBlocks: maxTransfer, maxReadBlocks, writeSameUnmapBlocks, unmapBlocks };
}

/** A VPD page (its whole length, up to `allocation` bytes), or undefined when the target refuses it. */
async function vpdPage(run: Run, page: number, allocation: number): Promise<Buffer | undefined> {
  const buffer = Buffer.alloc(allocation);
  const result = await run(S.inquiry(page, allocation), { dataIn: buffer });
  if (result.status !== S.STATUS_GOOD || result.received < 4 || buffer[1] !== page) return undefined;
  return buffer.subarray(0, Math.min(result.received, 4 + buffer.readUInt16BE(2)));
}
