const SUFFIX: Record<string, number> = { k: 2 ** 10, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40, P: 2 ** 50, E: 2 ** 60 };

export const SIZE_ERROR =
  "Parameter 'size' expects a non-negative number below 2^64\n" +
  'Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n' +
  'and exabytes, respectively.';

/** `-m` sizes: a plain number is MiB (QEMU's default unit), a suffix names another. Returns bytes. */
export function parseMemorySize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([kKMGTPE]?)$/.exec(text.trim());
  if (!match) throw new Error(SIZE_ERROR);
  const bytes = Number(match[1]) * (match[2] ? SUFFIX[match[2]]! : 2 ** 20);
  if (!Number.isFinite(bytes) || bytes >= 2 ** 64) throw new Error(SIZE_ERROR);
  return Math.floor(bytes);
}
