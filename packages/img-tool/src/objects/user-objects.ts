// The `--object`s this run defined that drivers look up by id in their open options (TLS
// credentials: `tls-creds=ID`); secrets go to core's block layer instead (secret.ts).
import type { UserObject } from '@tessera/core';

const defined = new Map<string, UserObject>();

export function keepUserObject(object: UserObject): void {
  defined.set(object.id, object);
}

/** The objects defined so far; undefined when none (the open options then carry none). */
export function definedObjects(): ReadonlyMap<string, UserObject> | undefined {
  return defined.size > 0 ? defined : undefined;
}
