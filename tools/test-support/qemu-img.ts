// qemu-img, the oracle of the interop tests, run to completion: its exit code and both outputs,
// whether it succeeded or not (a refusal's message is compared with ours).
import { execFileSync } from 'node:child_process';

export interface QemuImgResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `env`: the environment qemu-img runs in (default this process's). */
export function qemuImg(args: readonly string[], env?: NodeJS.ProcessEnv): QemuImgResult {
  try {
    return { code: 0, stdout: execFileSync('qemu-img', args, { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] }), stderr: '' };
  } catch (error) {
    const e = error as { status: number; stdout: string; stderr: string };
    return { code: e.status, stdout: e.stdout, stderr: e.stderr };
  }
}
