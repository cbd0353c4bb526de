import type { BlockNode } from '@tessera/core';
import { ToolError, UsageError, errorMessage } from '../cli/errors.ts';
import { openImage } from '../image/open.ts';
import { snapshotTable } from '../image/snapshot-list.ts';
import { FORCE_SHARE, HELP, IMAGE_OPTS, OBJECT, parseImageCommandOptions } from './common.ts';
import type { Command } from './types.ts';

type Action = { readonly kind: 'l' } | { readonly kind: 'a' | 'c' | 'd'; readonly name: string };

/** `snapshot`: list, create, apply and delete the internal snapshots of an image. */
export const snapshotCommand: Command = {
  name: 'snapshot',
  synopsis: 'snapshot [--object objectdef] [--image-opts] [-U] [-q] [-l | -a snapshot | -c snapshot | -d snapshot] filename',
  options: { short: ':la:c:d:hqU', long: [HELP, OBJECT, IMAGE_OPTS, FORCE_SHARE] },

  async run(context, args) {
    let action: Action | undefined;
    const parsed = parseImageCommandOptions(args, (option) => {
      switch (option.key) {
        case 'l':
        case 'a':
        case 'c':
        case 'd':
          if (action) throw new UsageError("Cannot mix '-l', '-a', '-c', '-d'");
          action = option.key === 'l' ? { kind: 'l' } : { kind: option.key, name: option.key === 'c' ? truncated(option.value ?? '') : (option.value ?? '') };
          break;
      }
    });
    if (parsed.help) return context.help();
    const { imageOpts, forceShare } = parsed;
    if (args.operands.length !== 1) throw new UsageError('Expecting one image file name');
    if (action === undefined) return 0; // qemu-img does nothing without an action
    const filename = args.operands[0]!;
    if (action.kind !== 'l' && forceShare) {
      throw new ToolError(`Could not open '${filename}': force-share=on can only be used with read-only images`);
    }
    const image = await openImage(context.host, { filename, format: undefined, imageOpts }, { readOnly: action.kind === 'l', forceShare });
    try {
      if (action.kind === 'l') {
        const snapshots = image.describe?.().snapshots ?? [];
        if (snapshots.length) context.console.out(`Snapshot list:\n${snapshotTable(snapshots)}`);
      } else {
        await change(image, action);
      }
    } finally {
      await image.close();
    }
    return 0;
  },
};

/** Create, apply or delete, failing with qemu-img's messages. */
async function change(image: BlockNode, { kind, name }: { readonly kind: 'a' | 'c' | 'd'; readonly name: string }): Promise<void> {
  const verb = { a: 'apply', c: 'create', d: 'delete' }[kind];
  const fail = (why: string, cause?: unknown) => new ToolError(`Could not ${verb} snapshot '${name}': ${why}`, 1, { cause });
  const snapshots = image.internalSnapshots;
  // What qemu-img says when the format has no snapshots, or none by that id or name.
  if (kind === 'c' && !snapshots) throw fail('-95 (Operation not supported)');
  if (kind === 'a' && !snapshots) throw fail('Block driver does not support snapshots');
  // QEMU's block layer refuses to apply any snapshot (even one that does not exist) under dirty bitmaps.
  if (kind === 'a' && image.persistentBitmaps?.list().length) throw fail('Device has active dirty bitmaps');
  // Apply finds a snapshot by id or name, delete by name only.
  const listed = image.describe?.().snapshots ?? [];
  if (kind !== 'c' && !listed.some((snapshot) => snapshot.name === name || (kind === 'a' && snapshot.id === name))) {
    throw fail(kind === 'a' ? 'Failed to load snapshot: No such file or directory' : 'snapshot not found');
  }
  try {
    if (kind === 'c') await snapshots!.create(name);
    else if (kind === 'a') await snapshots!.apply(name);
    else await snapshots!.delete(name);
  } catch (error) {
    throw fail(errorMessage(error), error);
  }
}

/** qemu-img keeps at most 255 bytes of a snapshot name (whole characters here). */
function truncated(name: string): string {
  const encoder = new TextEncoder();
  if (encoder.encode(name).length <= 255) return name;
  let out = '';
  for (const char of name) {
    if (encoder.encode(out + char).length > 255) break;
    out += char;
  }
  return out;
}
