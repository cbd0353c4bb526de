import { rbdError } from './errors.ts';

/** The driver options of an rbd node (`--image-opts driver=rbd,pool=…,image=…`, json:), as qemu's rbd driver names them. */
export const RBD_OPTION_NAMES = ['filename', 'pool', 'namespace', 'image', 'snapshot', 'conf', 'user'] as const;

/** Where an image is and how to reach its cluster. */
export interface RbdLocation {
  readonly pool: string;
  /** Empty for the pool's default namespace. */
  readonly namespace: string;
  /** The namespace was named (a filename always names one, possibly empty, as qemu's parser does). */
  readonly namespaceGiven: boolean;
  readonly image: string;
  readonly snapshot: string | undefined;
  /** ceph.conf to read; undefined: librados's default search ($CEPH_CONF, /etc/ceph/ceph.conf, …). */
  readonly conf: string | undefined;
  /** The cephx user id (`admin` when absent, as librados). */
  readonly user: string | undefined;
  /** Other `key=value` pairs of the filename, given to librados as configuration (keyring, mon_host, …), in order. */
  readonly settings: readonly (readonly [string, string])[];
  /** What messages name: the filename the user gave. */
  readonly shown: string;
  /**
   * How an open failure's message starts: `Could not open 'NAME': ` for a filename; nothing for
   * an image given by its fields, which the caller's message names (as qemu-img's does).
   */
  readonly failurePrefix: string;
}

/**
 * `rbd:pool[/namespace]/image[@snapshot][:key=value…]` (qemu's syntax; `\` escapes the next
 * character, so `mon_host=127.0.0.1\:6789`), or the same fields as driver options; options win.
 */
export function parseRbdLocation(location: string, options: Readonly<Record<string, string>> = {}): RbdLocation {
  const given = location === '' ? (options.filename ?? '') : location;
  const shown = given !== '' ? given : `rbd:${options.pool ?? ''}/${options.image ?? ''}`;
  // Given by its fields alone, the caller names the options in its message (qemu-img alike).
  const fail = (why: string): never => {
    throw rbdError(given === '' ? why : `Could not open '${shown}': ${why}`, 'invalid-option');
  };
  const fromName = given === '' ? undefined : parseFilename(given, fail);
  const pool = options.pool ?? fromName?.pool;
  const image = options.image ?? fromName?.image;
  if (!pool) fail(fromName ? 'Pool name is required' : "Parameter 'pool' is missing");
  if (!image) fail(fromName ? 'Image name is required' : "Parameter 'image' is missing");
  return {
    pool: pool!,
    namespace: options.namespace ?? fromName?.namespace ?? '',
    namespaceGiven: options.namespace !== undefined || fromName !== undefined,
    image: image!,
    snapshot: options.snapshot ?? fromName?.snapshot,
    conf: options.conf ?? fromName?.conf,
    user: options.user ?? fromName?.user,
    settings: fromName?.settings ?? [],
    shown,
    failurePrefix: given === '' ? '' : `Could not open '${shown}': `,
  };
}

interface NameParts {
  pool: string;
  namespace?: string;
  image?: string;
  snapshot?: string;
  conf?: string;
  user?: string;
  settings: [string, string][];
}

function parseFilename(text: string, fail: (why: string) => never): NameParts {
  if (!/^rbd:/i.test(text)) fail("filename must start with 'rbd:'");
  const fields = splitUnescaped(text.slice(4), ':');
  const path = fields[0]!;
  const slashes = splitUnescaped(path, '/');
  if (slashes.length < 2) fail('Pool name is required');
  if (slashes.length > 3) fail(`'${path}' is not pool[/namespace]/image`);
  const [pool, namespace] = slashes.length === 3 ? [slashes[0]!, slashes[1]!] : [slashes[0]!, undefined];
  const last = splitUnescaped(slashes[slashes.length - 1]!, '@');
  if (last.length > 2) fail(`'${path}' names more than one snapshot`);
  const parts: NameParts = {
    pool: unescape(pool),
    namespace: namespace === undefined ? undefined : unescape(namespace),
    image: unescape(last[0]!),
    snapshot: last[1] === undefined ? undefined : unescape(last[1]),
    settings: [],
  };
  for (const field of fields.slice(1)) {
    const pair = splitUnescaped(field, '=');
    // qemu's words for a field without a value.
    if (pair.length < 2) fail(`conf option ${unescape(field)} has no value`);
    const key = unescape(pair[0]!);
    const value = unescape(pair.slice(1).join('='));
    if (key === 'conf') parts.conf = value;
    else if (key === 'id') parts.user = value;
    else parts.settings.push([key, value]);
  }
  return parts;
}

/** Split at each `separator` not preceded by a backslash; the escapes stay (removed by unescape). */
function splitUnescaped(text: string, separator: string): string[] {
  const out: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && i + 1 < text.length) {
      current += c + text[++i];
    } else if (c === separator) {
      out.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  out.push(current);
  return out;
}

function unescape(text: string): string {
  return text.replace(/\\(.)/g, '$1');
}

/**
 * The name qemu gives an rbd node (`json:{"pool": …, "driver": "rbd", …}`): its options as a
 * QDict prints them, so in qemu's hash order (pool, image, conf, snapshot, driver, namespace,
 * user); the librados settings of the filename are not among them.
 */
export function qemuNodeName(location: RbdLocation): string {
  const fields: [string, string | undefined][] = [
    ['pool', location.pool],
    ['image', location.image],
    ['conf', location.conf],
    ['snapshot', location.snapshot],
    ['driver', 'rbd'],
    ['namespace', location.namespaceGiven ? location.namespace : undefined],
    ['user', location.user],
  ];
  const body = fields.filter(([, value]) => value !== undefined).map(([key, value]) => `${JSON.stringify(key)}: ${JSON.stringify(value)}`);
  return `json:{${body.join(', ')}}`;
}
