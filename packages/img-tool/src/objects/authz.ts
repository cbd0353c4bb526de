import type { Host } from '@tessera/core';
import type { ObjectProperties } from './types.ts';
import { keepUserObject } from './user-objects.ts';

const POLICIES = ['allow', 'deny'];
const FORMATS = ['exact', 'glob'];

/** `authz-simple,id=ID,identity=NAME`: allows the one identity (an x509 DN, a PSK username). */
export function defineAuthzSimple(_host: Host, id: string, properties: ObjectProperties): void {
  for (const key of Object.keys(properties)) if (key !== 'identity') throw new Error(`Parameter '${key}' is unexpected`);
  if (properties.identity === undefined) throw new Error("Parameter 'identity' is missing");
  keepUserObject({ qomType: 'authz-simple', id, properties });
}

/**
 * `authz-list,id=ID[,policy=allow|deny],rules.N.match=M,rules.N.policy=allow|deny[,rules.N.format=exact|glob]`:
 * the first rule that matches decides, else the policy (deny by default), as qemu's.
 */
export function defineAuthzList(_host: Host, id: string, properties: ObjectProperties): void {
  let rules = 0;
  for (const key of Object.keys(properties)) {
    const rule = /^rules\.(\d+)\.(match|policy|format)$/.exec(key);
    if (rule) rules = Math.max(rules, Number(rule[1]) + 1);
    else if (key !== 'policy') throw new Error(`Parameter '${key}' is unexpected`);
  }
  if (properties.policy !== undefined && !POLICIES.includes(properties.policy)) throw new Error(`Parameter 'policy' does not accept value '${properties.policy}'`);
  for (let n = 0; n < rules; n++) {
    const given = Object.keys(properties).some((key) => key.startsWith(`rules.${n}.`));
    if (!given) throw new Error(`Parameter 'rules.${n}' missing`);
    for (const part of ['match', 'policy']) if (properties[`rules.${n}.${part}`] === undefined) throw new Error(`Parameter 'rules.${n}.${part}' is missing`);
    const policy = properties[`rules.${n}.policy`]!;
    if (!POLICIES.includes(policy)) throw new Error(`Parameter 'policy' does not accept value '${policy}'`);
    const format = properties[`rules.${n}.format`];
    if (format !== undefined && !FORMATS.includes(format)) throw new Error(`Parameter 'format' does not accept value '${format}'`);
  }
  keepUserObject({ qomType: 'authz-list', id, properties });
}

/** Types Debian's qemu 7.2 knows but does not build into its tools: refused in its words. */
export function refuseUnbuiltType(type: string): (host: Host, id: string, properties: ObjectProperties) => void {
  return () => {
    throw new Error(`invalid object type: ${type}`);
  };
}
