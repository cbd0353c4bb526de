// Reading the storage write log that TESSERA_WRITE_LOG makes the executables keep
// (packages/core/src/block/write-log.ts): the operations of a run, each with the places in the
// log where it was issued and where it completed.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

export type LoggedOperation =
  | { readonly kind: 'write'; readonly offset: number; readonly data: Buffer; readonly file: string; readonly issued: number; done: number }
  | { readonly kind: 'truncate' | 'create'; readonly length: number; readonly file: string; readonly issued: number; done: number }
  | { readonly kind: 'flush'; readonly file: string; readonly issued: number; done: number };

export interface WriteLogContents {
  /** Operations in the order they were issued; `issued` and `done` are positions in the log (done: Infinity if it never completed). */
  readonly operations: readonly LoggedOperation[];
  /** Where each file was opened for writing (positions in the log), by file base name. */
  readonly opens: ReadonlyMap<string, readonly number[]>;
  /** Records in the log. */
  readonly length: number;
}

/** Parse a write log (a run killed mid-record leaves a short last record: it is dropped). */
export function readWriteLog(path: string): WriteLogContents {
  const log = readFileSync(path);
  const files = new Map<number, string>();
  const opens = new Map<string, number[]>();
  const bySequence = new Map<number, LoggedOperation>();
  const operations: LoggedOperation[] = [];
  let position = 0;
  for (let at = 0; at + 9 <= log.length; position++) {
    const kind = log.readUInt8(at);
    const sequence = log.readUInt32BE(at + 1);
    const fileId = log.readUInt32BE(at + 5);
    at += 9;
    const file = files.get(fileId) ?? '';
    let operation: LoggedOperation | undefined;
    if (kind === 1) {
      if (at + 4 > log.length) break;
      const length = log.readUInt32BE(at);
      if (at + 4 + length > log.length) break;
      const name = basename(log.toString('utf8', at + 4, at + 4 + length));
      at += 4 + length;
      files.set(fileId, name);
      opens.set(name, [...(opens.get(name) ?? []), position]);
    } else if (kind === 2) {
      if (at + 12 > log.length) break;
      const offset = log.readDoubleBE(at);
      const length = log.readUInt32BE(at + 8);
      if (at + 12 + length > log.length) break;
      operation = { kind: 'write', offset, data: log.subarray(at + 12, at + 12 + length), file, issued: position, done: Infinity };
      at += 12 + length;
    } else if (kind === 3) {
      operation = { kind: 'flush', file, issued: position, done: Infinity };
    } else if (kind === 4 || kind === 6) {
      if (at + 8 > log.length) break;
      operation = { kind: kind === 4 ? 'truncate' : 'create', length: log.readDoubleBE(at), file, issued: position, done: Infinity };
      at += 8;
    } else if (kind === 5) {
      const done = bySequence.get(sequence);
      if (done) done.done = position;
    } else {
      throw new Error(`${path}: unknown record kind ${kind} at byte ${at - 9}`);
    }
    if (operation) {
      bySequence.set(sequence, operation);
      operations.push(operation);
    }
  }
  return { operations, opens, length: position };
}
