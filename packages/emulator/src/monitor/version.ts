import { moduleList } from '#module-list';

/**
 * The QEMU release whose QMP and monitor behaviour tessera matches: its tests run the same QMP
 * scripts and monitor commands against Debian 12's qemu-system-i386 7.2 and compare the answers.
 * QMP clients (libvirt, Proxmox, test harnesses) gate features on these numbers and refuse a QEMU
 * older than they support: tessera's own 0.1.0 there would read as "QEMU 0.1", refused by all of
 * them, and a newer release than 7.2 would promise commands tessera does not have. The micro
 * number is 0: stable releases of a series do not change QMP.
 */
export const MATCHED_QEMU = { major: 7, minor: 2, micro: 0 } as const;

/** tessera's own version, as the package string says it (and the human monitor's banner). */
export function tesseraVersion(): string {
  return moduleList.version;
}

/**
 * What `query-version`, the QMP greeting and `info version` report: QEMU's shape, the matched
 * QEMU release in `qemu`, and `package` naming what really runs (QEMU puts its distributor's
 * package string there, e.g. "Debian 1:7.2+dfsg-7+deb12u18").
 */
export function monitorVersion(): { qemu: { major: number; minor: number; micro: number }; package: string } {
  return { qemu: { ...MATCHED_QEMU }, package: `tessera ${moduleList.version}, build stamp ${moduleList.stamp.slice(0, 12)}` };
}
