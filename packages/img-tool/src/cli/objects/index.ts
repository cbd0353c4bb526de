import type { UserObject } from '@tessera/core';
import { parseKeyValueList } from '../../image/key-value.ts';
import { ToolError } from '../errors.ts';
import type { ObjectType } from './object-type.ts';
import { tlsCredsX509 } from './tls-creds-x509.ts';

/** The `--object` types the tool can define, keyed by qom-type (one entry per type; drivers look objects up by id). */
const OBJECT_TYPES: Readonly<Record<string, ObjectType>> = {
  'tls-creds-x509': tlsCredsX509,
};

/** The objects this run defined, by id: a command line defines them once, before any image is opened (as qemu's object root). */
const defined = new Map<string, UserObject>();

/**
 * `--object qom-type,id=ID,prop=value,…` (or its JSON form `{"qom-type":…}`): checked as qemu
 * creates it, then kept for the drivers whose options name it. `exitCode`: compare's is 2.
 */
export function defineObject(text: string, exitCode = 1): void {
  const fail = (message: string): never => {
    throw new ToolError(message, exitCode);
  };
  const entries = text.trimStart().startsWith('{') ? jsonEntries(text, fail) : keyValueEntries(text);
  const properties: Record<string, string> = {};
  for (const [key, value] of entries) properties[key!] = value!;
  const { 'qom-type': qomType, id, ...rest } = properties;
  if (qomType === undefined) fail(`Parameter 'qom-type' is missing`);
  const type = OBJECT_TYPES[qomType!];
  if (!type) fail(`Parameter 'qom-type' does not accept value '${qomType}'`);
  if (id === undefined) fail(`Parameter 'id' is missing`);
  if (!/^[A-Za-z][A-Za-z0-9._-]*$/.test(id!)) fail(`Parameter 'id' expects an identifier\nIdentifiers consist of letters, digits, '-', '.', '_', starting with a letter.`);
  for (const key of Object.keys(rest)) if (!type!.properties.includes(key)) fail(`Parameter '${key}' is unexpected`);
  if (defined.has(id!)) fail(`attempt to add duplicate property '${id}' to object (type 'container')`);
  const object: UserObject = { qomType: qomType!, id: id!, properties: rest };
  try {
    type!.check?.(object);
  } catch (error) {
    fail((error as Error).message);
  }
  defined.set(id!, object);
}

/** The objects defined so far; undefined when none (the open options then carry none). */
export function definedObjects(): ReadonlyMap<string, UserObject> | undefined {
  return defined.size > 0 ? defined : undefined;
}

/** `type,id=…,…`: a first element without `=` is the qom-type, taken as written (not as a `no…` flag). */
function keyValueEntries(text: string): string[][] {
  const comma = text.indexOf(',');
  const first = comma < 0 ? text : text.slice(0, comma);
  if (first.includes('=')) return parseKeyValueList(text).map(({ key, value }) => [key, value]);
  return [['qom-type', first], ...parseKeyValueList(comma < 0 ? '' : text.slice(comma + 1)).map(({ key, value }) => [key, value])];
}

function jsonEntries(text: string, fail: (message: string) => never): string[][] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return fail(`Could not parse the --object JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return fail('--object JSON must be an object');
  return Object.entries(parsed).map(([key, value]) => [key, typeof value === 'string' ? value : JSON.stringify(value)]);
}
