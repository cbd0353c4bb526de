// A real tessera-img run with its storage writes logged (TESSERA_WRITE_LOG), and its crash states
// checked: the exhaustive crash tests' driver.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { checkCrashStates, qcow2DataRanges, snapshotFiles, type CrashStateReport } from './crash-states.ts';
import { executable } from './executables.ts';
import { readWriteLog } from './write-log.ts';

export interface RecordedRunOptions {
  /** Files the run writes (base names in `dir`): their bytes before it are the states' starting point. */
  readonly writes: readonly string[];
  /** qcow2 images checked in every state (default: the written files ending in .qcow2). */
  readonly check?: readonly string[];
  /** Also power-loss states: the run flushes (every cache mode but unsafe). */
  readonly powerLoss: boolean;
  /** States begin at the last opening of this file (convert: once the output was created). */
  readonly fromLastOpenOf?: string;
  /** See CrashStateOptions.allowClearedCopiedFlags (snapshot -c). */
  readonly allowClearedCopiedFlags?: boolean;
}

/** Run `tessera-img ARGS` in `dir` recording its writes, then check every crash state; the run must succeed. */
export async function recordAndCheck(dir: string, args: readonly string[], options: RecordedRunOptions): Promise<CrashStateReport> {
  const logPath = join(dir, 'run.log');
  rmSync(logPath, { force: true });
  const initial = snapshotFiles(dir, options.writes);
  execFileSync(process.execPath, [executable('img-tool', 'modular'), ...args], { cwd: dir, env: { ...process.env, TESSERA_WRITE_LOG: logPath }, stdio: 'pipe' });
  const log = readWriteLog(logPath);
  const check = options.check ?? options.writes.filter((name) => name.endsWith('.qcow2'));
  const from = options.fromLastOpenOf === undefined ? 0 : log.opens.get(options.fromLastOpenOf)!.at(-1)!;
  const report = await checkCrashStates({
    dir,
    initial,
    log,
    check,
    powerLoss: options.powerLoss,
    from,
    ...(options.allowClearedCopiedFlags ? { allowClearedCopiedFlags: true } : {}),
    dataRanges: new Map(check.map((image) => [image, qcow2DataRanges(dir, image)])),
  });
  rmSync(logPath, { force: true });
  return report;
}

/** One line for the test's output: the counts the closing note reports. */
export function describeReport(name: string, report: CrashStateReport): string {
  return `crash states: ${name}: ${report.states} enumerated (${report.processCrashStates} process crash, ${report.powerLossStates} power loss), ${report.checked} distinct checked, widest point ${report.widestPoint} operations, ${report.failureCount} failed${report.clearedCopiedFlagStates ? `, ${report.clearedCopiedFlagStates} with cleared COPIED flags only` : ''}`;
}
