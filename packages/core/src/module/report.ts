import type { ModuleDirectory } from './directories.ts';
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
  readonly directories: readonly ModuleDirectory[];
  readonly modules: readonly ModuleReportEntry[];
}

export function moduleReport(
  list: ModuleList,
  directories: readonly ModuleDirectory[],
  states: readonly ModuleState[],
): ModuleReport {
  return {
    executable: list.executable,
    version: list.version,
    configuration: list.configuration,
    stamp: list.stamp,
    directories,
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
    'module directories:',
    ...report.directories.map((d) => `  ${d.path} (${d.origin === 'executable' ? 'next to the executable' : d.origin})`),
    '',
    line(header),
    ...rows.map(line),
    '',
  ].join('\n');
}

function describeState(state: ModuleState): string {
  switch (state.status) {
    case 'builtin':
    case 'missing':
      return state.status;
    case 'installed':
      return `installed (${state.path})`;
    case 'refused':
      return `refused: ${state.path}: ${state.reason}`;
  }
}
