// `--object TYPE,id=ID,…`: QEMU's user-creatable objects, one definer per qom-type. Objects are
// defined in command-line order, before the command opens anything, with qemu-img's messages.
import type { Host } from '@tessera/core';
import { ToolError } from '../cli/errors.ts';
import { parseKeyValueList } from '../image/key-value.ts';
import { defineAuthzList, defineAuthzSimple, refuseUnbuiltType } from './authz.ts';
import { defineSecret } from './secret.ts';
import { defineTlsCredsAnon } from './tls-creds-anon.ts';
import { defineTlsCredsPsk } from './tls-creds-psk.ts';
import { defineTlsCredsX509 } from './tls-creds-x509.ts';
import type { ObjectDefiner } from './types.ts';

/**
 * The qom-types the executables define (another type is refused as qemu refuses an unknown one).
 * One table for tessera-img and tessera-nbd: the authz types are for tessera-nbd's --tls-authz.
 */
const DEFINERS: Readonly<Record<string, ObjectDefiner>> = {
  secret: defineSecret,
  'tls-creds-x509': defineTlsCredsX509,
  'tls-creds-psk': defineTlsCredsPsk,
  'tls-creds-anon': defineTlsCredsAnon,
  'authz-simple': defineAuthzSimple,
  'authz-list': defineAuthzList,
  'authz-listfile': refuseUnbuiltType('authz-listfile'),
  'authz-pam': () => {
    throw new Error('authz-pam (PAM accounts) is not supported; use authz-simple or authz-list');
  },
};

/** qemu's identifier rule for `id`. */
const IDENTIFIER = /^[A-Za-z][A-Za-z0-9._-]*$/;

/** Define the objects of a command's `--object` options, in order; `exitCode` for a failure (compare: 2). */
export function defineObjects(host: Host, definitions: readonly string[], exitCode = 1): void {
  const ids = new Set<string>();
  for (const text of definitions) {
    try {
      defineObject(host, text, ids);
    } catch (error) {
      throw new ToolError((error as Error).message, exitCode, { cause: error });
    }
  }
}

function defineObject(host: Host, text: string, ids: Set<string>): void {
  const entries = parseKeyValueList(text);
  const properties: Record<string, string> = {};
  let type: string | undefined;
  entries.forEach((entry, index) => {
    // The first element may name the type alone (`secret,id=…`), as qemu's implied qom-type.
    // (Taken as written: the list parser would read `nosuchtype` as `suchtype=off`.)
    if (index === 0 && entry.flag) type = text.split(',')[0];
    else if (entry.key === 'qom-type') type = entry.value;
    else properties[entry.key] = entry.value;
  });
  if (type === undefined) throw new Error("Parameter 'qom-type' is missing");
  const definer = Object.hasOwn(DEFINERS, type) ? DEFINERS[type] : undefined;
  if (!definer) throw new Error(`Parameter 'qom-type' does not accept value '${type}'`);
  const { id, ...rest } = properties;
  if (id === undefined) throw new Error("Parameter 'id' is missing");
  if (!IDENTIFIER.test(id)) {
    throw new Error("Parameter 'id' expects an identifier\nIdentifiers consist of letters, digits, '-', '.', '_', starting with a letter.");
  }
  if (ids.has(id)) throw new Error(`attempt to add duplicate property '${id}' to object (type 'container')`);
  definer(host, id, rest);
  ids.add(id);
}
