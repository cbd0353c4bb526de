// Recording mode of the storage layer, for the crash-consistency tests: with TESSERA_WRITE_LOG set
// to a file name, every protocol node (the storage under an image) logs each write, truncate and
// flush to that file, when it is issued and when it completes. A test rebuilds the files from
// their first bytes and a prefix of the log (tools/test-support/crash-states.ts): what a process
// crash or a power loss at that point could have left on disk.
//
// Records are appended synchronously, before the operation is issued and after it completed, so
// the log survives a kill -9 at any moment and its order is the order the process saw. Off (the
// variable unset) it costs one lookup when the block layer is made.
import { closeSync, openSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import type { BlockNode, ResizeOptions } from './types.ts';

export const WRITE_LOG_VARIABLE = 'TESSERA_WRITE_LOG';

/** Record kinds (one byte each). */
export const WriteLogRecord = {
  /** A file opened for writing (its path follows): the ids of later records name it by its order among these. */
  Open: 1,
  Write: 2,
  Flush: 3,
  /** Truncated or extended to a length (resize). */
  Truncate: 4,
  /** The operation with this sequence number completed. */
  Done: 5,
  /** Created anew (old content gone) with a length of zero bytes. */
  Create: 6,
} as const;
type RecordKind = (typeof WriteLogRecord)[keyof typeof WriteLogRecord];

/**
 * Layout, big-endian: kind u8, sequence u32, file u32, then by kind: Open: path length u32 + UTF-8
 * path; Write: offset f64, length u32, bytes; Truncate, Create: length f64; Flush, Done: nothing.
 */
export class WriteLog {
  private sequence = 0;
  private files = 0;

  private constructor(private readonly fd: number) {}

  /** The log named by the environment, or undefined when recording is off. */
  static fromEnvironment(env: Readonly<Record<string, string | undefined>> = process.env): WriteLog | undefined {
    const path = env[WRITE_LOG_VARIABLE];
    if (!path) return undefined;
    logs ??= new Map();
    let log = logs.get(path);
    if (!log) {
      log = new WriteLog(openSync(path, 'a'));
      logs.set(path, log);
    }
    return log;
  }

  /** A file opened for writing: its id for the records that follow. */
  opened(path: string): number {
    const file = this.files++;
    const name = Buffer.from(resolve(path));
    const record = Buffer.alloc(13 + name.length);
    this.head(record, WriteLogRecord.Open, file);
    record.writeUInt32BE(name.length, 9);
    name.copy(record, 13);
    this.append(record);
    return file;
  }

  write(file: number, offset: number, data: Uint8Array): number {
    const record = Buffer.alloc(21);
    const sequence = this.head(record, WriteLogRecord.Write, file);
    record.writeDoubleBE(offset, 9);
    record.writeUInt32BE(data.length, 17);
    this.append(record);
    this.append(data);
    return sequence;
  }

  truncate(file: number, length: number, kind: RecordKind = WriteLogRecord.Truncate): number {
    const record = Buffer.alloc(17);
    const sequence = this.head(record, kind, file);
    record.writeDoubleBE(length, 9);
    this.append(record);
    return sequence;
  }

  flush(file: number): number {
    const record = Buffer.alloc(9);
    const sequence = this.head(record, WriteLogRecord.Flush, file);
    this.append(record);
    return sequence;
  }

  done(file: number, sequence: number): void {
    const record = Buffer.alloc(9);
    record.writeUInt8(WriteLogRecord.Done, 0);
    record.writeUInt32BE(sequence, 1);
    record.writeUInt32BE(file, 5);
    this.append(record);
  }

  private head(record: Buffer, kind: RecordKind, file: number): number {
    const sequence = this.sequence++;
    record.writeUInt8(kind, 0);
    record.writeUInt32BE(sequence, 1);
    record.writeUInt32BE(file, 5);
    return sequence;
  }

  private append(bytes: Uint8Array): void {
    for (let done = 0; done < bytes.length; ) done += writeSync(this.fd, bytes, done, bytes.length - done);
  }

  /** For tests that record in-process: stop appending to this log (the next fromEnvironment opens it again). */
  static closeAll(): void {
    for (const log of logs?.values() ?? []) closeSync(log.fd);
    logs = undefined;
  }
}

let logs: Map<string, WriteLog> | undefined;

/** `node` (a protocol node opened for writing) with its writes, truncates and flushes logged. */
export function recordWrites(node: BlockNode, log: WriteLog): BlockNode {
  if (node.readOnly) return node;
  const file = log.opened(node.filename);
  const logged = async <T>(sequence: number, operation: Promise<T>): Promise<T> => {
    const result = await operation;
    log.done(file, sequence);
    return result;
  };
  return new Proxy(node, {
    get(target, key) {
      switch (key) {
        case 'write':
          return (offset: number, data: Uint8Array) => logged(log.write(file, offset, data), target.write(offset, data));
        case 'flush':
          return () => logged(log.flush(file), target.flush());
        case 'resize':
          return target.resize && ((size: number, options: ResizeOptions) => logged(log.truncate(file, size), target.resize!(size, options)));
      }
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Log a file's creation at `size` (its old content is gone: it reads as `size` zero bytes). */
export function recordCreation(log: WriteLog, path: string, size: number): void {
  const file = log.opened(path);
  log.done(file, log.truncate(file, size, WriteLogRecord.Create));
}
