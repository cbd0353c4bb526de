import type { UserObject } from '@tessera/core';

/** What the tool knows of one `--object` type: its properties, and the checks qemu makes when creating one. */
export interface ObjectType {
  readonly properties: readonly string[];
  /** Throws qemu's message for a property value it refuses or a file it cannot read. */
  check?(object: UserObject): void;
}
