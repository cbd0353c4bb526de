/**
 * qemu's `key=value,key=value` lists (`-o` options, `--image-opts`): a value runs to the next
 * single comma, `,,` stands for a literal comma, and an element without `=` is a flag whose
 * value is `on` (`off` for `noX`).
 */

export interface KeyValue {
  readonly key: string;
  readonly value: string;
  /** Written without `=` (`help`, `?`). */
  readonly flag: boolean;
}

export function parseKeyValueList(text: string): KeyValue[] {
  const entries: KeyValue[] = [];
  let i = 0;
  while (i < text.length) {
    let keyEnd = i;
    while (keyEnd < text.length && text[keyEnd] !== '=' && text[keyEnd] !== ',') keyEnd++;
    const key = text.slice(i, keyEnd);
    if (text[keyEnd] !== '=') {
      // qemu's old negative form: `nofoo` sets `foo=off`.
      if (key.startsWith('no') && key.length > 2) entries.push({ key: key.slice(2), value: 'off', flag: true });
      else entries.push({ key, value: 'on', flag: true });
      i = keyEnd + 1;
      continue;
    }
    let value = '';
    let j = keyEnd + 1;
    for (; j < text.length; j++) {
      if (text[j] === ',') {
        if (text[j + 1] !== ',') break;
        j++;
      }
      value += text[j];
    }
    entries.push({ key, value, flag: false });
    i = j + 1;
  }
  return entries;
}

/** What qemu-img accepts as an `-o` argument: not empty, not starting with a comma, not ending in an unpaired one. */
export function isValidOptionList(text: string): boolean {
  if (text === '' || text.startsWith(',')) return false;
  const trailingCommas = text.length - text.replace(/,+$/, '').length;
  return trailingCommas % 2 === 0;
}

/** `-o help` or `-o ?` anywhere in the list. */
export function asksForHelp(entries: readonly KeyValue[]): boolean {
  return entries.some((entry) => entry.flag && (entry.key === 'help' || entry.key === '?'));
}
