// Runs commands and reports each one's wall time and CPU time (user + sys of all its threads,
// from its rusage): a small python3 helper spawns and reaps each (os.wait4), which Node cannot.
// On a shared, loaded machine the CPU time barely moves with load, where the wall time includes
// waiting for a core. Used by the A/B benches. Not a test.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const HELPER = `
import json, os, sys, time
for line in sys.stdin:
    argv, env = json.loads(line)
    start = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, env, file_actions=[(os.POSIX_SPAWN_OPEN, 1, '/dev/null', os.O_WRONLY, 0), (os.POSIX_SPAWN_OPEN, 2, '/dev/null', os.O_WRONLY, 0)])
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    print(json.dumps([wall * 1000, (usage.ru_utime + usage.ru_stime) * 1000, os.waitstatus_to_exitcode(status), usage.ru_minflt]), flush=True)
`;

/**
 * A runner for commands in environment `env` (as it is at each run: a bench may add to it after
 * making the runner, as convert-protocols.mjs adds its ssh-agent); `run(argv)` resolves to
 * `{ wall, cpu, faults }` (ms, ms, minor page faults), rejects when the command fails.
 */
export function rusageRunner(env) {
  const helper = spawn('python3', ['-u', '-c', HELPER], { stdio: ['pipe', 'pipe', 'inherit'] });
  const replies = createInterface({ input: helper.stdout })[Symbol.asyncIterator]();
  return {
    async run(argv) {
      helper.stdin.write(`${JSON.stringify([argv, env])}\n`);
      const reply = await replies.next();
      if (reply.done) throw new Error('the python3 helper of bench/rusage-runner.mjs ended');
      const [wall, cpu, status, faults] = JSON.parse(reply.value);
      if (status !== 0) throw new Error(`${argv.join(' ')} failed (exit ${status}); run it by hand to see why`);
      return { wall, cpu, faults };
    },
    close() {
      helper.stdin.end();
    },
  };
}

/** The q-quantile (0..1) of samples, the lower neighbour. */
export const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * q)];

/** B's change against A, as a signed percentage. */
export const change = (b, a) => `${b >= a ? '+' : ''}${(((b - a) / a) * 100).toFixed(1)}%`;
