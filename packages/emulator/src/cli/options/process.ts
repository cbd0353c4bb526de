// -name: the guest's name (QMP query-name) and, with process=, the process's name.
import { parseKeyValues, parseOnOff } from '../key-value.ts';

export interface NameOption {
  readonly name?: string;
  readonly processName?: string;
}

/** `-name [guest=]NAME[,process=PNAME][,debug-threads=on|off]` (debug-threads is accepted and means nothing here). */
export function parseName(argument: string): NameOption {
  const kv = parseKeyValues(argument, 'guest');
  for (const [key, value] of kv) {
    if (key === 'debug-threads') parseOnOff(value, 'debug-threads');
    else if (key !== 'guest' && key !== 'process') throw new Error(`Invalid parameter '${key}'`);
  }
  const name = kv.get('guest');
  const processName = kv.get('process');
  return { ...(name !== undefined ? { name } : {}), ...(processName !== undefined ? { processName } : {}) };
}
