/**
 * A loadable module file starts with one comment line that names the module and the build stamp:
 *
 *   /*! tessera-module name=block-http stamp=<64 hex digits> *\/
 *
 * The loader reads it before any of the module's code runs. It is only a diagnosis (which build
 * made this file); trust comes from the sha256 on the executable's list.
 */
export interface ModuleHeader {
  readonly name: string;
  readonly stamp: string;
}

const HEADER = /^\/\*! tessera-module name=([a-z0-9-]+) stamp=([0-9a-f]{64}) \*\/\n/;
/** A header is within a file's first bytes: no more need be read to find it. */
export const MAX_HEADER_BYTES = 256;

export function parseModuleHeader(bytes: Uint8Array): ModuleHeader | undefined {
  const head = new TextDecoder().decode(bytes.subarray(0, MAX_HEADER_BYTES));
  const match = HEADER.exec(head);
  return match ? { name: match[1]!, stamp: match[2]! } : undefined;
}
