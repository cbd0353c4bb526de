// `check` results as qemu-img prints them: the human summary (with its exact wording and
// blank lines) and the JSON object (qemu's key order, which is its QDict's hash order; keys
// with a zero value are left out, except check-errors).
import type { CheckResult } from '@tessera/core';

export function humanCheckReport(result: CheckResult): string {
  const lines: string[] = [];
  if (!result.corruptions && !result.leaks && !result.checkErrors) {
    lines.push('No errors were found on the image.\n');
  } else {
    if (result.corruptions) {
      lines.push(`\n${result.corruptions} errors were found on the image.\nData may be corrupted, or further writes to the image may corrupt it.\n`);
    }
    if (result.leaks) {
      lines.push(`\n${result.leaks} leaked clusters were found on the image.\nThis means waste of disk space, but no harm to data.\n`);
    }
    if (result.checkErrors) lines.push(`\n${result.checkErrors} internal errors have occurred during the check.\n`);
  }
  const total = result.totalClusters ?? 0;
  const allocated = result.allocatedClusters ?? 0;
  if (total !== 0 && allocated !== 0) {
    const percent = (part: number, whole: number) => fixed2((part * 100) / whole);
    lines.push(
      `${allocated}/${total} = ${percent(allocated, total)}% allocated, ` +
        `${percent(result.fragmentedClusters ?? 0, allocated)}% fragmented, ${percent(result.compressedClusters ?? 0, allocated)}% compressed clusters\n`,
    );
  }
  if (result.imageEndOffset) lines.push(`Image end offset: ${result.imageEndOffset}\n`);
  return lines.join('');
}

/** The summary printed between a repairing pass and the double check. */
export function repairedReport(result: CheckResult): string {
  return (
    'The following inconsistencies were found and repaired:\n\n' +
    `    ${result.leaksFixed} leaked clusters\n    ${result.corruptionsFixed} corruptions\n\n` +
    'Double checking the fixed image now...\n'
  );
}

export function jsonCheckReport(result: CheckResult, filename: string, format: string): string {
  const fields: [string, number | string | undefined][] = [
    ['image-end-offset', result.imageEndOffset],
    ['compressed-clusters', result.compressedClusters],
    ['total-clusters', result.totalClusters],
    ['corruptions', result.corruptions],
    ['corruptions-fixed', result.corruptionsFixed],
    ['check-errors', result.checkErrors],
    ['leaks', result.leaks],
    ['leaks-fixed', result.leaksFixed],
    ['allocated-clusters', result.allocatedClusters],
    ['filename', filename],
    ['format', format],
    ['fragmented-clusters', result.fragmentedClusters],
  ];
  const json: Record<string, number | string> = {};
  for (const [key, value] of fields) if (value !== undefined && (value !== 0 || key === 'check-errors')) json[key] = value;
  return `${JSON.stringify(json, null, 4)}\n`;
}

/** printf's `%0.2f`: like toFixed(2), but an exact tie rounds to even (glibc), not up. */
function fixed2(value: number): string {
  const exact = value.toFixed(20);
  const point = exact.indexOf('.');
  if (/^50*$/.test(exact.slice(point + 3))) {
    const truncated = exact.slice(0, point + 3);
    const lastDigit = Number(truncated.at(-1));
    return lastDigit % 2 === 0 ? truncated : value.toFixed(2);
  }
  return value.toFixed(2);
}
