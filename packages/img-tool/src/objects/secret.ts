// `--object secret,id=ID,data=…|file=…[,format=raw|base64]`: a passphrase (a LUKS image's) that
// drivers ask core's block layer for by id. Its value appears in no message.
import { readFileSync } from 'node:fs';
import type { Host } from '@tessera/core';
import type { ObjectProperties } from './types.ts';

const KNOWN = new Set(['data', 'file', 'format', 'keyid', 'iv']);
const BASE64 = /^[A-Za-z0-9+/=]*$/;

export function defineSecret(host: Host, id: string, properties: ObjectProperties): void {
  for (const key of Object.keys(properties)) {
    if (key === 'loaded') throw new Error("Property 'secret.loaded' is not writable");
    if (!KNOWN.has(key)) throw new Error(`Parameter '${key}' is unexpected`);
  }
  const { data, file, format = 'raw', keyid } = properties;
  if (format !== 'raw' && format !== 'base64') throw new Error(`Parameter 'format' does not accept value '${format}'`);
  // A secret encrypted with another secret (keyid, iv: AES-256-CBC) is not implemented.
  if (keyid !== undefined) throw new Error(`secret '${id}': keyid (a secret encrypted with another) is not supported; give the plain secret with data= or file=`);
  if (data !== undefined && file !== undefined) throw new Error("'file' and 'data' are mutually exclusive");
  if (data === undefined && file === undefined) throw new Error("Either 'file' or 'data' must be provided");
  const raw = data !== undefined ? new Uint8Array(Buffer.from(data, 'utf8')) : readSecretFile(file!);
  host.block.defineSecret(id, format === 'base64' ? decodeBase64(raw) : raw);
}

function readSecretFile(file: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(file));
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'No such file or directory' : (error as Error).message;
    throw new Error(`Unable to read ${file}: Failed to open file “${file}”: ${reason}`, { cause: error });
  }
}

function decodeBase64(text: Uint8Array): Uint8Array {
  const ascii = Buffer.from(text).toString('latin1');
  if (!BASE64.test(ascii)) throw new Error('Base64 data contains invalid characters');
  return new Uint8Array(Buffer.from(ascii, 'base64'));
}
