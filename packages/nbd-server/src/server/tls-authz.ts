// --tls-authz: which TLS clients may go on. qemu's authz-simple (one identity) and authz-list
// (first matching rule, exact or glob as fnmatch, else the list's policy) over the identity the
// handshake proved: the client certificate's distinguished name (x509) or the PSK username.
import type { UserObject } from '@tessera/core';
import { OptionError } from '../cli/options.ts';

export type Authorizer = (identity: string) => boolean;

/** The check `--tls-authz ID` names; refused at start when ID names no authz object. */
export function authorizer(objects: ReadonlyMap<string, UserObject> | undefined, id: string): Authorizer {
  const object = objects?.get(id);
  if (!object) throw new OptionError(`Cannot find QAuthZ object ID ${id}`);
  const p = object.properties;
  if (object.qomType === 'authz-simple') return (identity) => identity === p.identity;
  if (object.qomType !== 'authz-list') throw new OptionError(`Object with id '${id}' is not an authorization object (authz-simple or authz-list)`);
  const rules: { match: string; allow: boolean; glob: boolean }[] = [];
  for (let n = 0; p[`rules.${n}.match`] !== undefined; n++) {
    rules.push({ match: p[`rules.${n}.match`]!, allow: p[`rules.${n}.policy`] === 'allow', glob: p[`rules.${n}.format`] === 'glob' });
  }
  const fallback = p.policy === 'allow';
  return (identity) => {
    for (const rule of rules) if (rule.glob ? globMatches(rule.match, identity) : rule.match === identity) return rule.allow;
    return fallback;
  };
}

/** fnmatch(3) without flags: `*`, `?`, `[…]` (`!` or `^` negates), `\` quotes the next character. */
export function globMatches(pattern: string, text: string): boolean {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') source += '[\\s\\S]*';
    else if (c === '?') source += '[\\s\\S]';
    else if (c === '\\' && i + 1 < pattern.length) source += escapeRegex(pattern[++i]!);
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) {
        source += '\\[';
        continue;
      }
      let body = pattern.slice(i + 1, end);
      const negate = body[0] === '!' || body[0] === '^';
      if (negate) body = body.slice(1);
      source += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = end;
    } else source += escapeRegex(c);
  }
  return new RegExp(`^${source}$`).test(text);
}

function escapeRegex(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/**
 * A certificate subject as GnuTLS formats it for qemu's x509 authz check: the RDNs in the
 * certificate's order, comma-separated, a comma in a value escaped (`C=GB,O=Example\, Org,CN=x`).
 * Node gives them one a line in OpenSSL's names; GnuTLS calls emailAddress EMAIL.
 */
export function distinguishedName(subject: string): string {
  return subject
    .split('\n')
    .map((rdn) => rdn.replace(/^emailAddress=/, 'EMAIL='))
    .join(',');
}
