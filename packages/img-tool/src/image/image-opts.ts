import { parseKeyValueList, type KeyValue } from './key-value.ts';
import type { ImageSpec } from './spec.ts';

/**
 * An `--image-opts` string (`driver=raw,file.driver=https,file.url=…,file.sslverify=off`) as
 * block-layer open options: `driver` is the format, `file.driver` the protocol,
 * `file.filename` / `file.url` the location, other `file.X` options go to the protocol and
 * the remaining top-level options to the format. Throws qemu's message when the string names
 * no image.
 */
export function parseImageOpts(text: string): ImageSpec {
  const entries = parseKeyValueList(text);
  if (entries.length === 1 && entries[0]!.flag && !text.includes('=')) {
    // A plain filename given where options were expected.
    throw new Error(`Cannot find device='${text}' nor node-name='${text}'`);
  }
  return imageSpecOf(entries);
}

/** Flat `key=value` open options (`file.driver`, `file.server.host`) as what to open. */
export function imageSpecOf(entries: readonly { readonly key: string; readonly value: string }[]): ImageSpec {
  let format: string | undefined;
  let protocol: string | undefined;
  let location: string | undefined;
  let hasFile = false;
  const fileOptions: Record<string, string> = {};
  const formatOptions: Record<string, string> = {};
  for (const { key, value } of entries) {
    if (key === 'driver') {
      format = value;
    } else if (key.startsWith('file.')) {
      hasFile = true;
      const name = key.slice('file.'.length);
      if (name === 'driver') protocol = value;
      else if (name === 'filename' || name === 'url') location = value;
      else fileOptions[name] = value;
    } else if (key !== '') {
      formatOptions[key] = value;
    }
  }
  if (format === undefined && !hasFile) throw new Error('Must specify either driver or file');
  return { location, format, protocol, fileOptions, formatOptions, hasFile };
}
