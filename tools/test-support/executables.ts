// Paths to the built executables and a way to run them, for the integration tests.
// The tests run against what `nx build` made (both configurations); they never build it themselves.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
// @ts-expect-error: build tools are plain .mjs
import { builtModulesDir, executableFileName } from '../build/paths.mjs';

export const workspaceRoot = fileURLToPath(new URL('../..', import.meta.url));
/** The current build's module directory (packages/modules/dist/<stamp>). */
export const modulesDir: string = (builtModulesDir as () => string)();

export type Configuration = 'modular' | 'static';
export const configurations: readonly Configuration[] = ['modular', 'static'];

export function executable(app: 'img-tool' | 'emulator' | 'nbd-server', configuration: Configuration): string {
  const name = (executableFileName as (appRoot: string) => string)(`${workspaceRoot}packages/${app}`);
  const path = `${workspaceRoot}packages/${app}/${configuration === 'static' ? 'dist-static' : 'dist'}/${name}`;
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: build it first (npx nx run-many -t build; npx nx run-many -t build -c static)`);
  }
  return path;
}

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly env?: Record<string, string | undefined>;
  readonly cwd?: string;
  readonly timeoutMs?: number;
  /** Run under another program (e.g. strace) that takes the node command line after its own arguments. */
  readonly wrapper?: readonly string[];
  /** Another Node binary than the one running the tests (the packed-install tests on other Node versions). */
  readonly node?: string;
}

/** Run `node <file> ...args` and collect its output; never rejects on a non-zero exit. */
export function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const command = [...(options.wrapper ?? []), options.node ?? process.execPath, file, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), {
      cwd: options.cwd,
      env: environment(options.env),
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 60_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The test's environment without TESSERA_MODULE_DIR, plus `extra` (an undefined value removes a variable). */
function environment(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.TESSERA_MODULE_DIR;
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}
