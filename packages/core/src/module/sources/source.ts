import type { LoadableModuleEntry, ModuleList } from '../types.ts';

/** Where a module file was looked for: the three places, in search order. */
export type ModuleOrigin = 'TESSERA_MODULE_DIR' | 'package' | 'distribution';

/** One place the loader looks for module files. */
export interface ModuleSource {
  readonly origin: ModuleOrigin;
  /**
   * What the report prints: the directory searched (for `package`, the node_modules directory in
   * which module packages are installed beside the executable's own package).
   */
  readonly path: string;
  /** Where this source keeps a module's file (a name on the list, never user input). */
  fileOf(entry: LoadableModuleEntry): string;
  /**
   * What to tell the user to do about a refused file found here, when this source knows better
   * than "reinstall the package" (an installed module package of another version).
   */
  adviceFor?(entry: LoadableModuleEntry, list: ModuleList): Promise<string>;
  /**
   * Where this source keeps this build's file after an upgrade replaced it while the process ran
   * (module packages: npm replaces a package's directory; the package's postinstall stashed the
   * file by build stamp). Tried only in that case; its bytes are verified like any other.
   */
  stashedFileOf?(entry: LoadableModuleEntry): string;
}
