/**
 * QEMU's option-argument syntax: `value,key=value,key=value`. The first element may omit its key
 * (it then belongs to `impliedKey`); a comma inside a value is written `,,`.
 */
export function parseKeyValues(text: string, impliedKey?: string): Map<string, string> {
  const result = new Map<string, string>();
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    if (text[i] === ',') {
      if (text[i + 1] === ',') {
        current += ',';
        i++;
        continue;
      }
      parts.push(current);
      current = '';
    } else current += text[i];
  }
  parts.push(current);
  parts.forEach((part, index) => {
    const eq = part.indexOf('=');
    if (eq < 0) {
      if (index === 0 && impliedKey !== undefined) result.set(impliedKey, part);
      else if (part !== '') result.set(part, 'on'); // a bare flag, as QEMU reads `readonly`
    } else result.set(part.slice(0, eq), part.slice(eq + 1));
  });
  return result;
}

/** `on`/`off` the way QEMU accepts them (with its error text). */
export function parseOnOff(value: string, parameter: string): boolean {
  if (value === 'on' || value === 'yes' || value === 'true') return true;
  if (value === 'off' || value === 'no' || value === 'false') return false;
  throw new Error(`Parameter '${parameter}' expects 'on' or 'off'`);
}
