// Types for the npm `qemu-qmp` client (0.5.0 ships none), as far as the tests use it.
declare module 'qemu-qmp' {
  import type { Socket } from 'node:net';

  /** A QMP connection: connects, negotiates on its own, then runs commands and emits events (lowercase names). */
  export default class QMP extends Socket {
    connect(path: string, callback: (error: Error | null) => void): this;
    execute(command: string, callback: (error: Error | null, result: never) => void): void;
    execute(command: string, args: object, callback: (error: Error | null, result: never) => void): void;
  }
}
