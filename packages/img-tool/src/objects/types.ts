import type { Host } from '@tessera/core';

/** An object's properties beside qom-type and id, as given (the last of a repeated key wins). */
export type ObjectProperties = Readonly<Record<string, string>>;

/** Defines one object of a qom-type; throws qemu's message for a bad property. */
export type ObjectDefiner = (host: Host, id: string, properties: ObjectProperties) => void;
