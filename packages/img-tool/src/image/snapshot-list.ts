import type { SnapshotInfo } from '@tessera/core';
import { formatHumanSize } from './human-size.ts';

const two = (n: number) => String(n).padStart(2, '0');

/** The snapshot table as qemu-img prints it (`info`, `snapshot -l`): a header line, then a row each. */
export function snapshotTable(snapshots: readonly SnapshotInfo[]): string {
  const header = `${'ID'.padEnd(10)}${'TAG'.padEnd(17)}${'VM SIZE'.padStart(8)}${'DATE'.padStart(20)}${'VM CLOCK'.padStart(13)}${'ICOUNT'.padStart(11)}\n`;
  return header + snapshots.map(snapshotRow).join('');
}

function snapshotRow(s: SnapshotInfo): string {
  const date = new Date(s.dateSec * 1000); // local time, as qemu-img's localtime()
  const dateText = `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
  const ms = Math.floor(s.vmClockNsec / 1e6);
  const clock = `${two(Math.floor(ms / 3_600_000))}:${two(Math.floor(ms / 60_000) % 60)}:${two(Math.floor(ms / 1000) % 60)}.${String(ms % 1000).padStart(3, '0')}`;
  const icount = s.icount === undefined ? '' : String(s.icount);
  return `${s.id.padEnd(9)} ${s.name.padEnd(16)} ${formatHumanSize(s.vmStateSize).padStart(8)}${dateText.padStart(20)}${clock.padStart(13)}${icount.padStart(11)}\n`;
}

/** A snapshot as qemu-img's JSON shows it (its key order). */
export function snapshotJson(s: SnapshotInfo): Record<string, unknown> {
  return {
    ...(s.icount !== undefined ? { icount: s.icount } : {}),
    'vm-clock-nsec': s.vmClockNsec % 1e9,
    name: s.name,
    'date-sec': s.dateSec,
    'date-nsec': s.dateNsec,
    'vm-clock-sec': Math.floor(s.vmClockNsec / 1e9),
    id: s.id,
    'vm-state-size': s.vmStateSize,
  };
}
