// Node's callback file API as promises, on plain file descriptors. Not node:fs/promises: loading
// that module costs every start of an executable about 3 ms, and node:fs is loaded anyway.
import { close, fdatasync, fstat, ftruncate, open, read, stat, write, type Stats } from 'node:fs';

type Callback<T> = (error: NodeJS.ErrnoException | null, value: T) => void;

function call<T>(start: (done: Callback<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => start((error, value) => (error ? reject(error) : resolve(value))));
}

export const openFile = (path: string, flags: string | number): Promise<number> => call((done) => open(path, flags, done));
export const statFile = (fd: number): Promise<Stats> => call((done) => fstat(fd, done));
export const statPath = (path: string): Promise<Stats> => call((done) => stat(path, done));
export const readAt = (fd: number, into: Uint8Array, offset: number, length: number, position: number): Promise<number> =>
  call((done) => read(fd, into, offset, length, position, done));
export const writeAt = (fd: number, data: Uint8Array, offset: number, length: number, position: number): Promise<number> =>
  call((done) => write(fd, data, offset, length, position, done));
export const syncData = (fd: number): Promise<void> => call((done) => fdatasync(fd, (error) => done(error, undefined)));
export const truncateFile = (fd: number, size: number): Promise<void> => call((done) => ftruncate(fd, size, (error) => done(error, undefined)));
export const closeFile = (fd: number): Promise<void> => call((done) => close(fd, (error) => done(error, undefined)));
