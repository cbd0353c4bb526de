import type { BlockNode } from '@tessera/core';
import type { SshSession } from './connect.ts';
import { sshError } from './errors.ts';
import type { SshTarget } from './ssh-options.ts';

/** Bytes per SFTP read or write request; a transfer sends its requests together (pipelined). */
const REQUEST_BYTES = 64 * 1024;
/** Requests in flight at once per transfer. */
const MAX_IN_FLIGHT = 32;
/** SSH_FX_EOF: a read at or past the end of the file. */
const FX_EOF = 1;

/** A remote file opened over SFTP, as a byte-addressed node (qemu's ssh driver). */
export class SshNode implements BlockNode {
  readonly driver = 'ssh';

  private constructor(
    private readonly session: SshSession,
    private readonly handle: Buffer,
    private readonly target: SshTarget,
    readonly filename: string,
    readonly readOnly: boolean,
    public size: number,
  ) {}

  /** Open the remote file (read-only or read-write) and learn its size with fstat. */
  static async open(session: SshSession, target: SshTarget, readOnly: boolean, create: boolean): Promise<SshNode> {
    const call = requester(session, target);
    const flags = create ? 'w+' : readOnly ? 'r' : 'r+';
    let handle: Buffer;
    try {
      handle = await call<Buffer>((done) => session.sftp.open(target.path, flags, done));
    } catch (error) {
      // qemu-img's words.
      throw sshError(`Could not open '${target.shown}': failed to open remote file '${target.path}': ${((error as Error).cause as Error | undefined)?.message ?? (error as Error).message}`, 'ssh-sftp', error);
    }
    const stats = await call<{ size?: number }>((done) => session.sftp.fstat(handle, done));
    if (stats.size === undefined || !Number.isSafeInteger(stats.size)) {
      throw sshError(`Could not open '${target.shown}': the server did not report the size of '${target.path}'`, 'ssh-sftp');
    }
    return new SshNode(session, handle, target, target.shown, readOnly, stats.size);
  }

  async read(offset: number, into: Uint8Array): Promise<void> {
    this.checkRange('read', offset, into.length);
    // ssh2 takes Buffers only: a view of the same memory.
    const buffer = Buffer.from(into.buffer, into.byteOffset, into.length);
    await this.inChunks(into.length, async (at, length) => {
      let done = 0;
      // SFTP may answer with fewer bytes than asked: ask again for the rest; at end of file, zeroes.
      while (done < length) {
        const got = await this.request<number>((cb) => this.session.sftp.read(this.handle, buffer, at + done, length - done, offset + at + done, cb), true);
        if (got <= 0) {
          into.fill(0, at + done, at + length);
          return;
        }
        done += got;
      }
    });
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    if (this.readOnly) throw sshError(`${this.filename}: cannot write ${data.length} bytes at offset ${offset}: the image is open read-only`, 'EPERM');
    if (!Number.isSafeInteger(offset) || offset < 0) throw sshError(`${this.filename}: write at offset ${offset} is out of range`, 'invalid-option');
    const buffer = Buffer.from(data.buffer, data.byteOffset, data.length);
    await this.inChunks(data.length, (at, length) => this.request((cb) => this.session.sftp.write(this.handle, buffer, at, length, offset + at, cb)));
    this.size = Math.max(this.size, offset + data.length);
  }

  /** fsync@openssh.com when the server offers it, as qemu; otherwise a flush is a no-op, as qemu's. */
  async flush(): Promise<void> {
    if (this.readOnly || !this.session.sftp._extensions?.['fsync@openssh.com']) return;
    await this.request((cb) => this.session.sftp.ext_openssh_fsync(this.handle, cb));
  }

  /** Set the file's length (create's size, and resize; qemu grows only, core asks for --shrink). */
  async truncate(size: number): Promise<void> {
    await this.request((cb) => this.session.sftp.fsetstat(this.handle, { size }, cb));
    this.size = size;
  }

  /** `resize`: qemu's ssh driver grows files only, and so does this one. */
  async resize(size: number): Promise<void> {
    if (this.readOnly) throw sshError(`${this.filename}: cannot resize: the image is open read-only`, 'EPERM');
    if (size < this.size) throw sshError('ssh driver does not support shrinking files', 'unsupported-operation'); // qemu-img's words
    await this.truncate(size);
  }

  async close(): Promise<void> {
    if (!this.session.ended()) {
      try {
        await this.request((cb) => this.session.sftp.close(this.handle, cb));
      } catch {} // the file is closed when the session ends anyway
    }
    this.session.client.end();
  }

  async allocatedSize(): Promise<number | undefined> {
    // SFTP does not say how much storage a file occupies (qemu-img: "disk size: unavailable").
    return undefined;
  }

  private request<T = undefined>(start: (done: (error: (Error & { code?: number | string }) | null | undefined, value: T) => void) => void, eofIsZero = false): Promise<T> {
    return requester(this.session, this.target)(start, eofIsZero);
  }

  /** `length` bytes as requests of REQUEST_BYTES, up to MAX_IN_FLIGHT at once; the first failure is the answer. */
  private async inChunks(length: number, each: (at: number, length: number) => Promise<unknown>): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < length) {
        const at = next;
        next += REQUEST_BYTES;
        await each(at, Math.min(REQUEST_BYTES, length - at));
      }
    };
    const workers = Array.from({ length: Math.min(MAX_IN_FLIGHT, Math.ceil(length / REQUEST_BYTES)) }, worker);
    const results = await Promise.allSettled(workers);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private checkRange(what: string, offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > this.size) {
      throw sshError(`${this.filename}: ${what} of ${length} bytes at offset ${offset} is beyond the end of the file (${this.size} bytes)`, 'invalid-option');
    }
  }
}

type Start<T> = (done: (error: (Error & { code?: number | string }) | null | undefined, value: T) => void) => void;

/**
 * One SFTP request with the request deadline: a server that stops answering fails the request
 * (and ends the session, so the others fail at once too) with a message naming the URL.
 */
function requester(session: SshSession, target: SshTarget) {
  return <T = undefined>(start: Start<T>, eofIsZero = false): Promise<T> => {
    const gone = session.ended();
    if (gone) return Promise.reject(gone);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        const error = sshError(`${target.shown}: the server '${target.host}:${target.port}' did not answer within ${target.requestTimeoutMs / 1000} s (timeout=${target.requestTimeoutMs / 1000})`, 'ssh-timeout');
        reject(error);
        session.client.destroy();
      }, target.requestTimeoutMs);
      start((error, value) => {
        clearTimeout(timer);
        if (!error) return resolve(value);
        if (eofIsZero && error.code === FX_EOF) return resolve(0 as T);
        const gone = session.ended();
        if (gone) return reject(gone);
        reject(sshError(`${target.shown}: ${error.message}`, 'ssh-sftp', error));
      });
    });
  };
}
