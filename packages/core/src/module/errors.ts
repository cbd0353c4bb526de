export type ModuleErrorCode =
  | 'not-listed'
  | 'missing'
  | 'refused'
  | 'init-failed'
  | 'not-provided';

/** Every failure of the module system, with the module it concerns. */
export class ModuleError extends Error {
  constructor(
    readonly code: ModuleErrorCode,
    readonly moduleName: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ModuleError';
  }
}
