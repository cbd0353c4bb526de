import type { ModuleList } from '@tessera/core';

/** Protocol drivers the executable's module list offers (`file`, `http`, `https`). */
export function protocolNames(list: ModuleList): string[] {
  return featureNames(list, 'block-protocol:');
}

/** Format drivers the executable's module list offers (`raw`). */
export function formatNames(list: ModuleList): string[] {
  return featureNames(list, 'block-format:');
}

function featureNames(list: ModuleList, prefix: string): string[] {
  const names = list.modules.flatMap((entry) =>
    entry.provides.filter((feature) => feature.startsWith(prefix)).map((feature) => feature.slice(prefix.length)),
  );
  return [...new Set(names)].sort();
}
