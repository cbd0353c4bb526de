// The exhaustive crash test's replay: from the files' first bytes and a run's write log, every
// state a crash could have left on disk, each checked with `qemu-img check`.
//
// Process crash (every cache mode): at each point of the log, the operations that completed
// before it are on disk (the OS has them), and any subset of those issued but not completed yet
// (in flight in the thread pool) may be too.
// Power loss (modes that flush): a file's operations that completed before a flush of it was
// issued, once that flush completed, are durable; any subset of everything else issued so far may
// have reached the disk. The subsets at the end of each flush epoch cover those at its earlier
// points (and every process crash within it), so those are the ones enumerated.
// States with identical bytes (outside the ranges that hold guest data only) are checked once. A write is taken as atomic (qcow2's metadata
// updates are sector-sized or smaller; torn sectors are not modelled).
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoggedOperation, WriteLogContents } from './write-log.ts';

/** More optional operations than this at one point (2^N subsets) is refused: the test should use a smaller image. */
export const MAX_OPTIONAL = 12;

export interface CrashStateOptions {
  /** The run's directory: its other files (source, backing files) are linked into each state's directory. */
  readonly dir: string;
  /** Content of the written files before the run (absent: did not exist), by base name. */
  readonly initial: ReadonlyMap<string, Buffer | undefined>;
  readonly log: WriteLogContents;
  /** Images (base names) that `qemu-img check` checks in every state. */
  readonly check: readonly string[];
  /** Also enumerate power-loss states (modes that flush). */
  readonly powerLoss: boolean;
  /** States begin at this position of the log (e.g. once the image was created); earlier operations are on disk. */
  readonly from?: number;
  /**
   * Host byte ranges, by file, that hold guest data only (qcow2DataRanges: the data clusters of
   * the image at the end of the run). qemu-img check reads metadata only, so writes that lie
   * wholly inside them are not enumerated one by one: the states take all of them or none (none:
   * the file as short as it may be). Unset: every write is enumerated.
   */
  readonly dataRanges?: ReadonlyMap<string, readonly (readonly [number, number])[]>;
  /**
   * Accept states whose only findings are QCOW_OFLAG_COPIED flags cleared on clusters with
   * refcount 1 (snapshot -c: a flag and a refcount live in different clusters, so one of them
   * changes first; cleared first, a write merely copies the cluster, nothing can be lost; QEMU has
   * the same window with the flag still set). Counted in the report.
   */
  readonly allowClearedCopiedFlags?: boolean;
}

export interface CrashStateReport {
  /** Crash states enumerated (process crashes + power losses, before removing duplicates). */
  readonly states: number;
  readonly processCrashStates: number;
  readonly powerLossStates: number;
  /** Distinct states (metadata and file lengths differ), each checked with qemu-img check. */
  readonly checked: number;
  /** The largest number of optional operations at one point. */
  readonly widestPoint: number;
  /** Failed states: where, and what qemu-img check said (at most 5 kept; their files are kept in `dir/crash-failure-N`). */
  readonly failures: readonly string[];
  readonly failureCount: number;
  /** States accepted only under allowClearedCopiedFlags. */
  readonly clearedCopiedFlagStates: number;
}

type Files = Map<string, Buffer>;
interface State {
  readonly label: string;
  readonly files: Files;
}

const CHECKERS = 2;

export async function checkCrashStates(options: CrashStateOptions): Promise<CrashStateReport> {
  const seen = new Set<string>();
  let processCrashStates = 0;
  let powerLossStates = 0;
  let widestPoint = 0;
  const failures: string[] = [];
  let failureCount = 0;
  let checked = 0;
  let clearedCopiedFlagStates = 0;

  function* distinct(): Generator<State> {
    for (const state of enumerate()) {
      // Bytes in data ranges do not count: check reads metadata (and the file's length) only.
      const hash = createHash('sha1');
      for (const name of [...state.files.keys()].sort()) {
        const bytes = state.files.get(name)!;
        hash.update(`${name}\0${bytes.length}\0`);
        let at = 0;
        for (const [start, end] of sortedData.get(name) ?? []) {
          if (start >= bytes.length) break;
          if (start > at) hash.update(bytes.subarray(at, start));
          at = Math.max(at, end);
        }
        if (at < bytes.length) hash.update(bytes.subarray(at));
      }
      const key = hash.digest('hex');
      if (seen.has(key)) continue;
      seen.add(key);
      yield state;
    }
  }

  const sortedData = new Map([...(options.dataRanges ?? [])].map(([name, ranges]) => [name, [...ranges].sort((a, b) => a[0] - b[0])]));
  const isData = (op: LoggedOperation): boolean =>
    op.kind === 'write' && (options.dataRanges?.get(op.file) ?? []).some(([start, end]) => start <= op.offset && op.offset + op.data.length <= end);

  function* enumerate(): Generator<State> {
    const ops = options.log.operations.filter((op) => op.kind !== 'flush');
    const from = options.from ?? 0;
    // Process crashes: the completed operations (in completion order) plus subsets of those in flight.
    const base = initialFiles(options.initial);
    const byCompletion = [...ops].sort((a, b) => a.done - b.done);
    let next = 0;
    for (let point = 0; point <= options.log.length; point++) {
      while (next < byCompletion.length && byCompletion[next]!.done < point) apply(base, byCompletion[next++]!);
      if (point < from) continue;
      const inFlight = ops.filter((op) => op.issued < point && op.done >= point);
      widestPoint = Math.max(widestPoint, inFlight.length);
      for (const subset of subsets(inFlight, point, isData)) {
        processCrashStates++;
        yield { label: `process crash at log record ${point}, in-flight operations applied: [${subset.map((op) => op.issued).join(', ')}]`, files: withApplied(base, subset) };
      }
    }
    if (!options.powerLoss) return;
    // Power losses: at the end of each epoch (before a flush completes, and at the end of the log).
    const flushes = options.log.operations.filter((op) => op.kind === 'flush' && op.done !== Infinity);
    const ends = [...flushes.map((flush) => flush.done), options.log.length].filter((point) => point >= from);
    for (const point of new Set(ends)) {
      // Durable: for each file, what completed before the issue of its last flush that completed before `point`.
      const durableBefore = new Map<string, number>();
      for (const flush of flushes) if (flush.done < point) durableBefore.set(flush.file, Math.max(durableBefore.get(flush.file) ?? -1, flush.issued));
      const durable = (op: LoggedOperation) => op.done < (durableBefore.get(op.file) ?? -1) || op.done < from;
      const files = initialFiles(options.initial);
      for (const op of byCompletion) if (durable(op)) apply(files, op);
      const optional = ops.filter((op) => op.issued < point && !durable(op));
      widestPoint = Math.max(widestPoint, optional.length);
      for (const subset of subsets(optional, point, isData)) {
        powerLossStates++;
        yield { label: `power loss before log record ${point}, unflushed operations applied: [${subset.map((op) => op.issued).join(', ')}]`, files: withApplied(files, subset) };
      }
    }
  }

  const states = distinct();
  const workers = Array.from({ length: CHECKERS }, async (_, worker) => {
    const dir = join(options.dir, `crash-state-${worker}`);
    prepareStateDir(dir, options);
    for (let next = states.next(); !next.done; next = states.next()) {
      const state = next.value;
      for (const [name, bytes] of state.files) writeFileSync(join(dir, name), bytes);
      checked++;
      for (const image of options.check) {
        if (!state.files.has(image) && !existsSync(join(dir, image))) continue;
        const verdict = await qemuCheck(dir, image, options.allowClearedCopiedFlags ?? false);
        if (verdict === undefined) continue;
        if (verdict === CLEARED_COPIED_ONLY) {
          clearedCopiedFlagStates++;
          continue;
        }
        failureCount++;
        if (failures.length < 5) {
          const keep = join(options.dir, `crash-failure-${failures.length}`);
          mkdirSync(keep, { recursive: true });
          for (const [name, bytes] of state.files) writeFileSync(join(keep, name), bytes);
          failures.push(`${state.label}: ${image}: ${verdict} (files kept in ${keep})`);
        }
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });
  await Promise.all(workers);
  return { states: processCrashStates + powerLossStates, processCrashStates, powerLossStates, checked, widestPoint, failures, failureCount, clearedCopiedFlagStates };
}

/** The files as they were before the run. */
function initialFiles(initial: ReadonlyMap<string, Buffer | undefined>): Files {
  const files: Files = new Map();
  for (const [name, bytes] of initial) files.set(name, Buffer.from(bytes ?? Buffer.alloc(0)));
  return files;
}

function withApplied(base: Files, subset: readonly LoggedOperation[]): Files {
  const files: Files = new Map();
  for (const [name, bytes] of base) files.set(name, subset.some((op) => op.file === name) ? Buffer.from(bytes) : bytes);
  for (const op of [...subset].sort((a, b) => a.issued - b.issued)) apply(files, op);
  return files;
}

function apply(files: Files, op: LoggedOperation): void {
  const bytes = files.get(op.file) ?? Buffer.alloc(0);
  switch (op.kind) {
    case 'create':
      files.set(op.file, Buffer.alloc(op.length));
      return;
    case 'truncate': {
      const resized = Buffer.alloc(op.length);
      bytes.copy(resized, 0, 0, Math.min(bytes.length, op.length));
      files.set(op.file, resized);
      return;
    }
    case 'write': {
      const end = op.offset + op.data.length;
      let target = bytes;
      if (end > bytes.length) {
        target = Buffer.alloc(end);
        bytes.copy(target);
      }
      op.data.copy(target, op.offset);
      files.set(op.file, target);
      return;
    }
    case 'flush':
      return;
  }
}

/**
 * Every subset of `ops` (the empty one first), data writes all or none; refused when there are
 * too many to enumerate (the test should use a smaller image, rather than sample).
 */
function* subsets(all: readonly LoggedOperation[], point: number, isData: (op: LoggedOperation) => boolean): Generator<LoggedOperation[]> {
  const ops = all.filter((op) => !isData(op));
  const data = all.filter(isData);
  if (ops.length > MAX_OPTIONAL) {
    throw new Error(`${ops.length} metadata operations may or may not have reached the disk at log record ${point}: 2^${ops.length} states are too many to enumerate; use a smaller image`);
  }
  for (const withData of data.length ? [false, true] : [false]) {
    for (let mask = 0; mask < 2 ** ops.length; mask++) {
      const subset = ops.filter((_, i) => mask & (1 << i));
      yield withData ? [...subset, ...data] : subset;
    }
  }
}

/** A directory for the states, with the run's other files linked in (backing files resolve there). */
function prepareStateDir(dir: string, options: CrashStateOptions): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  for (const name of readdirSync(options.dir)) {
    if (options.initial.has(name) || options.log.opens.has(name) || name.startsWith('crash-') || name.endsWith('.log')) continue;
    symlinkSync(join(options.dir, name), join(dir, name));
  }
}

const CLEARED_COPIED_ONLY = 'cleared COPIED flags only';

/**
 * undefined when qemu-img check finds no corruption and no check error (leaks are fine); else what
 * it said, or CLEARED_COPIED_ONLY when that is all it found and `allowCleared`.
 */
function qemuCheck(dir: string, image: string, allowCleared: boolean): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const child = spawn('qemu-img', ['check', '--output=json', image], { cwd: dir });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      let result: { corruptions?: number; 'check-errors'?: number } = {};
      try {
        result = JSON.parse(out) as typeof result;
      } catch {
        // no JSON: an image qemu-img could not open
      }
      const clean = (code === 0 || code === 3) && !result.corruptions && !result['check-errors'];
      if (clean) return resolve(undefined);
      const errors = err.split('\n').filter((line) => line.startsWith('ERROR'));
      const harmless = (line: string) => {
        const match = /^ERROR OFLAG_COPIED (?:data|L2) cluster: .*(?:l2_entry|l1_entry)=([0-9a-f]+) refcount=1$/.exec(line);
        return match !== null && (BigInt(`0x${match[1]}`) & (1n << 63n)) === 0n;
      };
      if (allowCleared && code === 2 && !result['check-errors'] && errors.length === result.corruptions && errors.every(harmless)) return resolve(CLEARED_COPIED_ONLY);
      resolve(`exit ${code}: ${out.trim()} ${err.trim()}`.trim());
    });
  });
}

/** Host ranges of `image`'s own data clusters (qemu-img map), for `dataRanges`. */
export function qcow2DataRanges(dir: string, image: string): Array<[number, number]> {
  const map = JSON.parse(execFileSync('qemu-img', ['map', '--output=json', '-f', 'qcow2', image], { cwd: dir, encoding: 'utf8' })) as Array<{
    length: number;
    data: boolean;
    depth: number;
    offset?: number;
  }>;
  return map.filter((extent) => extent.depth === 0 && extent.data && extent.offset !== undefined).map((extent) => [extent.offset!, extent.offset! + extent.length]);
}

/** The current bytes of `names` in `dir` (undefined for a file that does not exist): a run's starting point. */
export function snapshotFiles(dir: string, names: readonly string[]): Map<string, Buffer | undefined> {
  return new Map(names.map((name) => [name, existsSync(join(dir, name)) ? readFileSync(join(dir, name)) : undefined]));
}
