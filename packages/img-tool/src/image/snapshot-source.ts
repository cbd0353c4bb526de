import type { BlockNode, SnapshotSelector } from '@tessera/core';
import { ToolError } from '../cli/errors.ts';
import { parseKeyValueList } from './key-value.ts';

/**
 * `-l snapshot_param` as qemu-img reads it: `snapshot.id=ID,snapshot.name=NAME` (either or both),
 * or else one word that is an id or, failing that, a name.
 */
export function parseSnapshotParam(text: string): SnapshotSelector {
  if (!text.startsWith('snapshot.')) return { idOrName: text };
  let id: string | undefined;
  let name: string | undefined;
  for (const { key, value } of parseKeyValueList(text)) {
    if (key === 'snapshot.id') id = value;
    else if (key === 'snapshot.name') name = value;
    else throw new ToolError([`Invalid parameter '${key}'`, `Failed in parsing snapshot param '${text}'`]);
  }
  return { ...(id !== undefined ? { id } : {}), ...(name !== undefined ? { name } : {}) };
}

/** The source's internal snapshot, loaded read-only (qemu's temporarily loaded snapshot), with qemu-img's messages. */
export async function loadSnapshot(source: BlockNode, selector: SnapshotSelector): Promise<BlockNode> {
  const view = source.internalSnapshots?.view;
  if (!view) {
    throw new ToolError(`Failed to load snapshot: Block format '${source.driver}' used by device '' does not support temporarily loading internal snapshots`);
  }
  try {
    return await view.call(source.internalSnapshots, selector);
  } catch (error) {
    throw new ToolError(`Failed to load snapshot: ${(error as Error).message}`, 1, { cause: error });
  }
}
