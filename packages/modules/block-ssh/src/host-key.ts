import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { HostKeyCheck } from './ssh-options.ts';

/** Bounds on a known_hosts file read (a user's file; still, nothing unbounded). */
const MAX_KNOWN_HOSTS_BYTES = 16 * 1024 * 1024;

/**
 * Whether the server's host key (its wire blob) is the one expected: undefined when it is, else
 * why not, in words naming the host and what to do. Runs inside the key exchange, before any
 * authentication or request.
 */
export function hostKeyRefusal(check: HostKeyCheck, host: string, port: number, blob: Buffer): string | undefined {
  const type = keyType(blob);
  if (check.mode === 'none') return undefined;
  if (check.mode === 'hash') {
    const actual = createHash(check.type).update(blob).digest('hex');
    if (actual === check.hash) return undefined;
    // qemu-img's words.
    return `remote host ${type} key fingerprint '${check.type}:${actual}' does not match host_key_check '${check.type}:${check.hash}'`;
  }
  const file = knownHostsFile();
  const name = port === 22 ? host : `[${host}]:${port}`;
  const fingerprint = `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
  const entries = readKnownHosts(file).filter((entry) => hostMatches(entry.patterns, name));
  if (entries.some((entry) => entry.marker === '@revoked' && entry.blob.equals(blob))) {
    return `the ${type} host key of ${name} (${fingerprint}) is marked @revoked in ${file}`;
  }
  const plain = entries.filter((entry) => entry.marker === undefined);
  if (plain.some((entry) => entry.blob.equals(blob))) return undefined;
  const sameType = plain.filter((entry) => entry.type === type);
  if (sameType.length > 0) {
    return (
      `host key does not match the one in known_hosts: ${name} offers ${type} key ${fingerprint}, ${file} has another ` +
      `(the key changed, or someone is intercepting the connection); if the change is expected, remove the old entry ` +
      `(ssh-keygen -R '${name}') and add the new one, or pin it with host_key_check=sha256:<hex>`
    );
  }
  return (
    `no host key was found in known_hosts: ${name} offers ${type} key ${fingerprint}, unknown to ${file}; ` +
    `add it (e.g. ssh -p ${port} ${host} once, or ssh-keyscan -p ${port} ${host} >> ${file}) after checking it, ` +
    `or pin it with host_key_check=sha256:${createHash('sha256').update(blob).digest('hex')}`
  );
}

/** The host key algorithms this client offers, in its order of preference (ssh2's). */
const HOST_KEY_ALGORITHMS = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];

/**
 * Host key algorithms to offer, those of keys known_hosts has for the host first (as OpenSSH's
 * ssh orders them): a server with several host keys then shows the one the user has, rather than
 * one unknown here. Undefined when known_hosts is not used or knows no key of the host.
 */
export function preferredHostKeyAlgorithms(check: HostKeyCheck, host: string, port: number): string[] | undefined {
  if (check.mode !== 'known_hosts') return undefined;
  const name = port === 22 ? host : `[${host}]:${port}`;
  const types = new Set(readKnownHosts(knownHostsFile()).filter((e) => e.marker === undefined && hostMatches(e.patterns, name)).map((e) => e.type));
  if (types.size === 0) return undefined;
  // A known_hosts `ssh-rsa` key is offered as any of the RSA signature algorithms.
  const known = (algorithm: string) => types.has(algorithm.startsWith('rsa-sha2-') ? 'ssh-rsa' : algorithm);
  return [...HOST_KEY_ALGORITHMS.filter(known), ...HOST_KEY_ALGORITHMS.filter((a) => !known(a))];
}

function knownHostsFile(): string {
  // $HOME first (OpenSSH's ssh reads the password database instead), as users of a tool expect.
  return join(process.env.HOME || homedir(), '.ssh', 'known_hosts');
}

interface KnownHost {
  marker: string | undefined;
  patterns: string;
  type: string;
  blob: Buffer;
}

function readKnownHosts(file: string): KnownHost[] {
  let text: string;
  try {
    const bytes = readFileSync(file);
    text = bytes.subarray(0, MAX_KNOWN_HOSTS_BYTES).toString('utf8');
  } catch {
    return []; // no file: every host is unknown
  }
  const entries: KnownHost[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    const marker = fields[0]!.startsWith('@') ? fields.shift() : undefined;
    if (fields.length < 3) continue;
    entries.push({ marker, patterns: fields[0]!, type: fields[1]!, blob: Buffer.from(fields[2]!, 'base64') });
  }
  return entries;
}

/** OpenSSH's host pattern lists: hashed `|1|salt|hash`, `*`/`?` wildcards, `!` negation. */
function hostMatches(patterns: string, name: string): boolean {
  if (patterns.startsWith('|1|')) {
    const [, , salt, hash] = patterns.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  let matched = false;
  for (const pattern of patterns.split(',')) {
    const negated = pattern.startsWith('!');
    const glob = negated ? pattern.slice(1) : pattern;
    const regex = new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*').replaceAll('?', '.')}$`, 'i');
    if (!regex.test(name)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

/** The key type named at the start of an SSH public key blob (a length-prefixed string). */
function keyType(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const length = blob.readUInt32BE(0);
  return length > 0 && length <= 64 && blob.length >= 4 + length ? blob.subarray(4, 4 + length).toString('latin1') : 'unknown';
}
