import type { ObjectProperties } from './types.ts';

/** What every tls-creds-* type takes (qemu's TLS credentials base class). */
const COMMON = ['endpoint', 'verify-peer', 'priority'];
const BOOLEAN = ['on', 'off', 'yes', 'no', 'true', 'false'];

/** Refuse a property the type does not have, or a boolean that is none, in qemu's words. */
export function checkTlsProperties(properties: ObjectProperties, own: readonly string[]): void {
  for (const key of Object.keys(properties)) if (!COMMON.includes(key) && !own.includes(key)) throw new Error(`Parameter '${key}' is unexpected`);
  const verifyPeer = properties['verify-peer'];
  if (verifyPeer !== undefined && !BOOLEAN.includes(verifyPeer)) throw new Error(`Parameter 'verify-peer' expects 'on' or 'off'`);
}

/** The endpoint (client by default, as qemu's). */
export function checkTlsEndpoint(properties: ObjectProperties): 'client' | 'server' {
  const endpoint = properties.endpoint ?? 'client';
  if (endpoint !== 'client' && endpoint !== 'server') throw new Error(`Parameter 'endpoint' does not accept value '${endpoint}'`);
  return endpoint;
}
