import { iscsiError } from './errors.ts';
import { qemuJsonName } from './qemu-json-name.ts';

export const DEFAULT_PORT = 3260;

export interface IscsiLocation {
  readonly host: string;
  readonly port: number;
  readonly targetName: string;
  readonly lun: number;
  readonly user?: string;
  readonly password?: string;
  /** The portal as written (`host[:port]`), as qemu names it. */
  readonly portal?: string;
  /** The URL named a port (qemu's name then shows it). */
  readonly portGiven?: boolean;
  /** The URL without the password, for messages once open and the node's name. */
  readonly shown: string;
  /** The location as given: open errors name it as qemu-img does (and as the tool's own prefix does). */
  readonly given: string;
}

/**
 * `iscsi://[user[%password]@]host[:port]/target-iqn/lun`, as QEMU (libiscsi) reads it. The
 * password never appears in messages.
 */
export function parseIscsiUrl(location: string): IscsiLocation {
  const invalid = (why: string): never => {
    throw iscsiError(`Could not open '${location}': Failed to parse URL : ${why}`, 'invalid-option');
  };
  const match = /^iscsi:\/\/(?:([^@/]*)@)?(\[[^\]]+\]|[^/:]+)(?::(\d+))?\/([^/]+)\/(\d+)$/i.exec(location);
  if (!match) return invalid('expected iscsi://[user[%password]@]host[:port]/target-iqn/lun');
  const [, userInfo, rawHost, rawPort, rawTarget, rawLun] = match as unknown as [string, string | undefined, string, string | undefined, string, string];
  const port = rawPort === undefined ? DEFAULT_PORT : Number(rawPort);
  if (!(port > 0 && port < 65536)) invalid(`invalid port ${rawPort}`);
  const lun = Number(rawLun);
  // Flat addressing reaches LUNs up to 16383 (SAM's two-byte LUN forms used here).
  if (!(lun >= 0 && lun < 16384)) invalid(`invalid LUN ${rawLun} (0 to 16383)`);
  let targetName: string;
  let user: string | undefined;
  let password: string | undefined;
  try {
    targetName = decodeURIComponent(rawTarget);
    if (userInfo !== undefined) {
      const cut = userInfo.indexOf('%');
      // qemu's separator is '%'; a '%' followed by two hex digits is still the separator, as in libiscsi.
      user = decodeURIComponent(cut < 0 ? userInfo : userInfo.slice(0, cut));
      if (cut >= 0) password = decodeURIComponent(userInfo.slice(cut + 1));
    }
  } catch {
    return invalid('bad percent-encoding');
  }
  if (targetName.length > 223) invalid('target name longer than 223 bytes');
  const host = rawHost.replace(/^\[(.*)\]$/, '$1');
  return { host, port, portGiven: rawPort !== undefined, targetName, lun, user, password, shown: redact(location), given: location };
}

/** The location with any password removed. */
export function redact(location: string): string {
  return location.replace(/^(iscsi:\/\/[^@/%]*)%[^@/]*@/i, '$1@');
}

/** The options that name a LUN without a URL (`--image-opts driver=iscsi,transport=tcp,portal=…,target=…,lun=…`). */
export const ISCSI_ADDRESS_OPTIONS = ['transport', 'portal', 'target', 'lun'] as const;

/**
 * The LUN qemu's structured options name, read as the URL they amount to (so both spellings are
 * checked alike); qemu's messages for what is missing or wrong.
 */
export function iscsiLocationFromOptions(options: Readonly<Record<string, string>>): IscsiLocation {
  const { transport, portal, target, lun = '0' } = options;
  const fail = (why: string): never => {
    throw iscsiError(why, 'invalid-option');
  };
  if (transport === undefined || portal === undefined || target === undefined) fail('Need all of transport, portal and target options');
  if (transport !== 'tcp') fail(transport === 'iser' ? 'iSER transport is not supported' : `Unknown transport: ${transport}`);
  if (!/^\d+$/.test(lun)) fail(`Parameter 'lun' expects a number`);
  const url = `iscsi://${portal}/${target!.replace(/[%/?#@]/g, encodeURIComponent)}/${lun}`;
  const location = parseIscsiUrl(url);
  return { ...location, portal: portal! };
}

/**
 * The name qemu gives an iscsi node: its open options as a json: pseudo-filename (the driver has
 * no filename of its own). The password is left out, where qemu prints it: names end up in
 * terminals and logs.
 */
export function iscsiImageName(location: IscsiLocation, options: Readonly<Record<string, string>>): string {
  const portal = location.portal ?? `${location.host.includes(':') ? `[${location.host}]` : location.host}${location.portGiven ? `:${location.port}` : ''}`;
  const entries: [string, string][] = [['driver', 'iscsi'], ['transport', 'tcp']];
  const user = options.user ?? location.user;
  if (user !== undefined) entries.push(['user', user]);
  entries.push(['portal', portal], ['target', location.targetName], ['lun', String(location.lun)]);
  for (const key of ['initiator-name', 'header-digest']) if (options[key] !== undefined) entries.push([key, options[key]!]);
  return qemuJsonName(entries);
}
