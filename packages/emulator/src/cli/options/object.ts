// -object secret,id=ID,data=…|file=…[,format=raw|base64]: a passphrase an encrypted disk names
// (`-drive …,encrypt.key-secret=ID` for qcow2, `key-secret=ID` for luks), as qemu-system takes it.
// Only the secret type: the emulator has no other user-creatable object. Read at parse time, as
// qemu creates its objects before the machine; the value appears in no message.
import { readFileSync } from 'node:fs';
import { parseKeyValues } from '../key-value.ts';

export interface SecretObject {
  readonly id: string;
  readonly value: Uint8Array;
}

const IDENTIFIER = /^[A-Za-z][A-Za-z0-9._-]*$/;

export function parseSecretObject(argument: string, defined: readonly SecretObject[]): SecretObject {
  const kv = parseKeyValues(argument, 'qom-type');
  const type = kv.get('qom-type');
  if (type === undefined) throw new Error("Parameter 'qom-type' is missing");
  if (type !== 'secret') throw new Error(`Parameter 'qom-type' does not accept value '${type}'`);
  for (const key of kv.keys()) if (!['qom-type', 'id', 'data', 'file', 'format'].includes(key)) throw new Error(`Parameter '${key}' is unexpected`);
  const id = kv.get('id');
  if (id === undefined) throw new Error("Parameter 'id' is missing");
  if (!IDENTIFIER.test(id)) throw new Error("Parameter 'id' expects an identifier");
  if (defined.some((secret) => secret.id === id)) throw new Error(`attempt to add duplicate property '${id}' to object (type 'container')`);
  const format = kv.get('format') ?? 'raw';
  if (format !== 'raw' && format !== 'base64') throw new Error(`Parameter 'format' does not accept value '${format}'`);
  const data = kv.get('data');
  const file = kv.get('file');
  if (data !== undefined && file !== undefined) throw new Error("'file' and 'data' are mutually exclusive");
  if (data === undefined && file === undefined) throw new Error("Either 'file' or 'data' must be provided");
  let raw: Buffer;
  try {
    raw = data !== undefined ? Buffer.from(data, 'utf8') : readFileSync(file!);
  } catch (error) {
    throw new Error(`Unable to read ${file}: ${(error as Error).message}`, { cause: error });
  }
  if (format === 'base64' && !/^[A-Za-z0-9+/=]*$/.test(raw.toString('latin1'))) throw new Error('Unable to decode secret: invalid base64');
  return { id, value: new Uint8Array(format === 'base64' ? Buffer.from(raw.toString('latin1'), 'base64') : raw) };
}
