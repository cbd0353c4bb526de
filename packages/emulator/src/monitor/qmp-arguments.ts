import { MonitorError } from './machine-control.ts';

type ArgType = 'str' | 'bool' | 'int' | 'array';
export type ArgSpec = Readonly<Record<string, { readonly type: ArgType; readonly optional?: boolean }>>;

const TYPE_NAMES: Record<ArgType, string> = { str: 'string', bool: 'boolean', int: 'integer', array: 'array' };

/** Check a command's arguments against its schema, with QEMU's error texts. */
export function checkArguments(args: Record<string, unknown>, spec: ArgSpec): void {
  for (const key of Object.keys(args)) {
    if (!(key in spec)) throw new MonitorError('GenericError', `Parameter '${key}' is unexpected`);
  }
  for (const [key, { type, optional }] of Object.entries(spec)) {
    const value = args[key];
    if (value === undefined) {
      if (!optional) throw new MonitorError('GenericError', `Parameter '${key}' is missing`);
      continue;
    }
    const ok =
      type === 'str' ? typeof value === 'string' : type === 'bool' ? typeof value === 'boolean' : type === 'int' ? Number.isInteger(value) : Array.isArray(value);
    if (!ok) throw new MonitorError('GenericError', `Invalid parameter type for '${key}', expected: ${TYPE_NAMES[type]}`);
  }
}
