// qemu-img, the oracle of the interop tests, run to completion: its exit code and both outputs,
// whether it succeeded or not (a refusal's message is compared with ours).
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';

export interface QemuImgResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * qemu's LUKS create times PBKDF2 by the thread's CPU time and gives up with this message when the
 * clock did not move (seen on a loaded CI machine, 1 run in ~2): the run is repeated, at most 3 times.
 */
const PBKDF_CALIBRATION_FAILED = 'Unable to get accurate CPU usage';

/** qemu-img `args` (options: cwd, env), its result whatever the exit code. */
export function qemuImgRun(args: readonly string[], options: Pick<SpawnSyncOptions, 'cwd' | 'env'> = {}): QemuImgResult {
  for (let attempt = 1; ; attempt++) {
    const result = spawnSync('qemu-img', args, { ...options, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (result.error) throw result.error;
    const run = { code: result.status ?? 1, stdout: result.stdout, stderr: result.stderr };
    if (attempt < 3 && run.code !== 0 && run.stderr.includes(PBKDF_CALIBRATION_FAILED)) continue;
    return run;
  }
}

/** `env`: the environment qemu-img runs in (default this process's). */
export function qemuImg(args: readonly string[], env?: NodeJS.ProcessEnv): QemuImgResult {
  return qemuImgRun(args, { env });
}

/** qemu-img `args`, its stdout; throws with its stderr when it fails (as execFileSync). */
export function qemuImgOrThrow(args: readonly string[], options: Pick<SpawnSyncOptions, 'cwd' | 'env'> = {}): string {
  const run = qemuImgRun(args, options);
  if (run.code !== 0) throw new Error(`Command failed: qemu-img ${args.join(' ')}\n${run.stderr}`);
  return run.stdout;
}
