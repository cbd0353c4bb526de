export type ModuleErrorCode =
  | 'not-listed'
  | 'missing'
  | 'refused'
  | 'init-failed'
  | 'not-provided';

/** Why a module file was refused, for callers that must tell the cases apart. */
export type ModuleRefusalKind =
  /** A directory, FIFO, socket or device named like the module: never read. */
  | 'not-a-regular-file'
  /** Not the size the build made it: read no further than that size. */
  | 'wrong-size'
  /** It exists but cannot be opened or read (permissions, a loop of symbolic links, I/O). */
  | 'unreadable'
  /** Read, but not this build's file: no header, another module, another build, changed bytes. */
  | 'not-this-build';

/** A module file that was found and refused: where, and why. */
export interface ModuleFileRefusal {
  readonly kind: ModuleRefusalKind;
  /** Where the file was found. */
  readonly path: string;
  /** Why it was refused, as a clause: "it is a FIFO, not a regular file". */
  readonly reason: string;
}

/** Every failure of the module system, with the module it concerns. */
export class ModuleError extends Error {
  /** Set on `refused` errors of a module file. */
  readonly refusal: ModuleFileRefusal | undefined;

  constructor(
    readonly code: ModuleErrorCode,
    readonly moduleName: string,
    message: string,
    options?: { cause?: unknown; refusal?: ModuleFileRefusal },
  ) {
    super(message, options);
    this.name = 'ModuleError';
    this.refusal = options?.refusal;
  }

  /** The error for a refused module file: `module <name> (<path>) refused: <reason>`. */
  static refused(moduleName: string, refusal: ModuleFileRefusal): ModuleError {
    return new ModuleError('refused', moduleName, `module ${moduleName} (${refusal.path}) refused: ${refusal.reason}`, { refusal });
  }
}
