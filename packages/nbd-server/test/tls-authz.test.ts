// --tls-authz's decisions without a connection: authz-list's first-match rules and policy, globs as
// fnmatch(3) matches them, and a certificate subject in the words qemu-nbd's x509 authz compares.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { UserObject } from '@tessera/core';
import { authorizer, distinguishedName, globMatches } from '../src/server/tls-authz.ts';
import { makeTlsDirectories } from '../../modules/block-nbd/test/helpers/certificates.ts';

const objects = (...list: UserObject[]) => new Map(list.map((o) => [o.id, o]));

describe('--tls-authz', () => {
  it('authz-list: the first matching rule decides, else the policy (deny unless policy=allow); exact is the default format', () => {
    const list = (policy?: string): UserObject => ({
      qomType: 'authz-list',
      id: 'a',
      properties: {
        ...(policy ? { policy } : {}),
        'rules.0.match': 'mallory',
        'rules.0.policy': 'deny',
        'rules.1.match': '*lice',
        'rules.1.policy': 'allow',
        'rules.1.format': 'glob',
        'rules.2.match': 'b*',
        'rules.2.policy': 'allow',
      },
    });
    const check = authorizer(objects(list()), 'a');
    expect(['alice', 'malice', 'mallory', 'b*', 'bob'].map(check)).toEqual([true, true, false, true, false]);
    const open = authorizer(objects(list('allow')), 'a');
    expect(['bob', 'mallory'].map(open)).toEqual([true, false]);
    expect(authorizer(objects({ qomType: 'authz-simple', id: 's', properties: { identity: 'CN=x' } }), 's')('CN=x ')).toBe(false);
    expect(() => authorizer(objects(), 'none')).toThrow('Cannot find QAuthZ object ID none');
    expect(() => authorizer(objects({ qomType: 'secret', id: 's', properties: {} }), 's')).toThrow("Object with id 's' is not an authorization object");
  });

  it('globs as fnmatch: * and ? across any character, classes, negation, quoting; regex characters are literal', () => {
    const cases: [string, string, boolean][] = [
      ['CN=*,O=Example', 'CN=a/b,O=Example', true],
      ['user?', 'user1', true],
      ['user?', 'user12', false],
      ['[a-c]x', 'bx', true],
      ['[!a-c]x', 'bx', false],
      ['[^a-c]x', 'dx', true],
      ['a\\*', 'a*', true],
      ['a\\*', 'ab', false],
      ['a.b(c)+', 'a.b(c)+', true],
      ['a.b', 'axb', false],
      ['[unclosed', '[unclosed', true],
    ];
    for (const [pattern, text, expected] of cases) expect(globMatches(pattern, text), `${pattern} ~ ${text}`).toBe(expected);
  });

  it("a certificate subject as qemu-nbd words it: the certificate's order, escaped commas, EMAIL", () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-authz-'));
    try {
      const client = makeTlsDirectories(dir).client;
      const subject = new X509Certificate(readFileSync(join(client, 'client-cert.pem'))).subject;
      // The same string qemu-nbd printed for this subject (tls.test.ts checks it against qemu-nbd itself).
      expect(distinguishedName(subject)).toBe('O=Tessera\\, Tests,CN=tessera client,EMAIL=client@example.test');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
