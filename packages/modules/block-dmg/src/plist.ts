/**
 * A small XML property-list reader, bounded: enough of Apple's plist DTD for a DMG's resource
 * fork (dict, array, key, string, data, integer, real, date, true, false), nesting at most 16
 * levels deep, on text the caller has already bounded in size. Anything else is an error: the
 * reader never guesses.
 */
export type PlistValue = string | number | boolean | Uint8Array | readonly PlistValue[] | PlistDict;
export interface PlistDict {
  readonly [key: string]: PlistValue;
}

export class PlistError extends Error {}

const MAX_DEPTH = 16;

const ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function unescape(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (whole, name: string) => {
    if (name.startsWith('#x')) return String.fromCodePoint(Math.min(parseInt(name.slice(2), 16), 0x10ffff));
    if (name.startsWith('#')) return String.fromCodePoint(Math.min(parseInt(name.slice(1), 10), 0x10ffff));
    const entity = ENTITIES[name];
    if (entity === undefined) throw new PlistError(`unknown entity ${whole}`);
    return entity;
  });
}

/** A base64 <data> element's bytes; whitespace inside is allowed, anything else is not. */
function base64(text: string): Uint8Array {
  const compact = text.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) throw new PlistError('a <data> element is not base64');
  return new Uint8Array(Buffer.from(compact, 'base64'));
}

class Reader {
  private at = 0;

  constructor(private readonly text: string) {}

  /** Skip whitespace, comments, the XML declaration and the doctype. */
  private skipMisc(): void {
    for (;;) {
      while (this.at < this.text.length && /\s/.test(this.text[this.at]!)) this.at++;
      if (this.text.startsWith('<?', this.at)) this.skipPast('?>');
      else if (this.text.startsWith('<!--', this.at)) this.skipPast('-->');
      else if (this.text.startsWith('<!', this.at)) this.skipPast('>');
      else return;
    }
  }

  private skipPast(end: string): void {
    const found = this.text.indexOf(end, this.at);
    if (found < 0) throw new PlistError(`unterminated markup (no ${end})`);
    this.at = found + end.length;
  }

  /** The next tag: its name, whether it closes, whether it is empty (`<true/>`). */
  private tag(): { name: string; closing: boolean; empty: boolean } {
    this.skipMisc();
    const match = /^<(\/?)([A-Za-z][A-Za-z0-9_-]*)(?:\s+[^<>]*?)?\s*(\/?)>/.exec(this.text.slice(this.at, this.at + 256));
    if (!match) throw new PlistError(`expected a tag at character ${this.at}`);
    this.at += match[0].length;
    return { name: match[2]!, closing: match[1] === '/', empty: match[3] === '/' };
  }

  /** Text up to the closing tag of `name`. */
  private textUntil(name: string): string {
    const end = this.text.indexOf(`</${name}>`, this.at);
    if (end < 0) throw new PlistError(`<${name}> is not closed`);
    const content = this.text.slice(this.at, end);
    if (content.includes('<')) throw new PlistError(`<${name}> holds markup`);
    this.at = end + name.length + 3;
    return content;
  }

  document(): PlistValue {
    const open = this.tag();
    if (open.name !== 'plist' || open.closing) throw new PlistError('the document is not a <plist>');
    const value = this.value(1);
    const close = this.tag();
    if (close.name !== 'plist' || !close.closing) throw new PlistError('<plist> holds more than one value');
    return value;
  }

  private value(depth: number, opened?: { name: string; closing: boolean; empty: boolean }): PlistValue {
    if (depth > MAX_DEPTH) throw new PlistError(`nesting deeper than ${MAX_DEPTH} levels`);
    const tag = opened ?? this.tag();
    if (tag.closing) throw new PlistError(`unexpected </${tag.name}>`);
    switch (tag.name) {
      case 'true':
      case 'false':
        if (!tag.empty) this.textUntil(tag.name);
        return tag.name === 'true';
      case 'string':
      case 'date':
        return tag.empty ? '' : unescape(this.textUntil(tag.name));
      case 'integer':
      case 'real': {
        const number = Number(this.textUntil(tag.name).trim());
        if (!Number.isFinite(number)) throw new PlistError(`<${tag.name}> is not a number`);
        return number;
      }
      case 'data':
        return tag.empty ? new Uint8Array(0) : base64(this.textUntil('data'));
      case 'array': {
        const items: PlistValue[] = [];
        if (tag.empty) return items;
        for (;;) {
          const next = this.tag();
          if (next.closing && next.name === 'array') return items;
          items.push(this.value(depth + 1, next));
        }
      }
      case 'dict': {
        const dict: Record<string, PlistValue> = Object.create(null) as Record<string, PlistValue>;
        if (tag.empty) return dict;
        for (;;) {
          const key = this.tag();
          if (key.closing && key.name === 'dict') return dict;
          if (key.name !== 'key' || key.empty) throw new PlistError('a <dict> entry does not start with <key>');
          const name = unescape(this.textUntil('key'));
          dict[name] = this.value(depth + 1);
        }
      }
      default:
        throw new PlistError(`unknown element <${tag.name}>`);
    }
  }
}

/** Parse an XML property list (UTF-8 text). */
export function parsePlist(bytes: Uint8Array): PlistValue {
  return new Reader(new TextDecoder('utf-8', { fatal: false }).decode(bytes)).document();
}
