import { moduleList } from '#module-list';

/**
 * What `query-version` and `info version` report: tessera's own version (not a QEMU version it
 * is not), in QEMU's shape, so clients that read the numbers see a real release number.
 */
export function monitorVersion(): { qemu: { major: number; minor: number; micro: number }; package: string } {
  const [major = 0, minor = 0, micro = 0] = moduleList.version.split('.').map((part) => Number.parseInt(part, 10) || 0);
  return { qemu: { major, minor, micro }, package: `tessera ${moduleList.version} (build stamp ${moduleList.stamp.slice(0, 12)})` };
}
