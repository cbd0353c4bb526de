// The part of npm ssh2's API this module uses (the package ships no types; @types/ssh2 would be
// one more development dependency for a handful of signatures).
declare module 'ssh2' {
  import { EventEmitter } from 'node:events';
  type Callback<T = void> = (error: (Error & { code?: number | string }) | undefined | null, value: T) => void;
  export interface Stats {
    size?: number;
  }
  export interface SFTPWrapper extends EventEmitter {
    open(path: string, flags: string, callback: Callback<Buffer>): void;
    read(handle: Buffer, buffer: Uint8Array, offset: number, length: number, position: number, callback: Callback<number>): void;
    write(handle: Buffer, buffer: Uint8Array, offset: number, length: number, position: number, callback: Callback<undefined>): void;
    fstat(handle: Buffer, callback: Callback<Stats>): void;
    fsetstat(handle: Buffer, attributes: { size?: number }, callback: Callback<undefined>): void;
    ext_openssh_fsync(handle: Buffer, callback: Callback<undefined>): boolean;
    close(handle: Buffer, callback: Callback<undefined>): void;
    end(): void;
    readonly _extensions?: Record<string, string>;
  }
  export class Client extends EventEmitter {
    connect(config: Record<string, unknown>): this;
    sftp(callback: (error: Error | undefined, sftp: SFTPWrapper) => void): void;
    end(): this;
    setNoDelay(noDelay: boolean): void;
    destroy(): this;
  }
}
