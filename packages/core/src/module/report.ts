import type { ModuleOrigin, ModuleSource } from './directories.ts';
import type { ModuleState } from './loader.ts';
import type { Linkage, ModuleCategory, ModuleList } from './types.ts';

export interface ModuleReportEntry {
  readonly name: string;
  readonly category: ModuleCategory;
  readonly linkage: Linkage;
  readonly package: string;
  readonly state: ModuleState;
}

/** What `--list-modules` prints. */
export interface ModuleReport {
  readonly executable: string;
  readonly version: string;
  readonly configuration: string;
  readonly stamp: string;
  /** The module sources, in search order. */
  readonly directories: readonly { readonly origin: ModuleOrigin; readonly path: string }[];
  readonly modules: readonly ModuleReportEntry[];
}

export function moduleReport(
  list: ModuleList,
  sources: readonly ModuleSource[],
  states: readonly ModuleState[],
): ModuleReport {
  return {
    executable: list.executable,
    version: list.version,
    configuration: list.configuration,
    stamp: list.stamp,
    directories: sources.map(({ origin, path }) => ({ origin, path })),
    modules: list.modules.map((entry, i) => ({
      name: entry.name,
      category: entry.category,
      linkage: entry.linkage,
      package: entry.package,
      state: states[i]!,
    })),
  };
}

export function formatModuleReport(report: ModuleReport, output: 'human' | 'json'): string {
  if (output === 'json') return `${JSON.stringify(report, null, 4)}\n`;
  const rows = report.modules.map((m) => [m.name, m.category, m.linkage, describeState(m.state)]);
  const header = ['NAME', 'CATEGORY', 'LINKAGE', 'STATUS'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c)).join('  ');
  return [
    `${report.executable} ${report.version} (configuration ${report.configuration})`,
    `build stamp: ${report.stamp}`,
    'module search order:',
    ...report.directories.map((d, i) => `  ${i + 1}. ${d.path} (${ORIGIN_TEXT[d.origin]})`),
    '',
    line(header),
    ...rows.map(line),
    '',
  ].join('\n');
}

const ORIGIN_TEXT: Readonly<Record<ModuleOrigin, string>> = {
  TESSERA_MODULE_DIR: 'TESSERA_MODULE_DIR',
  package: 'module packages installed beside this executable\'s package',
  distribution: 'the distribution directory, next to the executable',
};

function describeState(state: ModuleState): string {
  switch (state.status) {
    case 'builtin':
      return state.status;
    case 'missing':
      return `missing: not installed; to install it: ${state.install}`;
    case 'installed':
      return `installed (${state.path}; from ${ORIGIN_TEXT[state.origin]})`;
    case 'refused':
      return `refused: ${state.path} (from ${ORIGIN_TEXT[state.origin]}): ${state.reason}`;
  }
}
