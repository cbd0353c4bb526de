import { ToolError, UsageError } from '../cli/errors.ts';
import { openImage } from '../image/open.ts';
import { snapshotTable } from '../image/snapshot-list.ts';
import { FORCE_SHARE, HELP, IMAGE_OPTS, OBJECT, objectsUnsupported } from './common.ts';
import type { Command } from './types.ts';

/** `snapshot`: internal snapshots of an image. Listing works; the writing actions need qcow2 writes. */
export const snapshotCommand: Command = {
  name: 'snapshot',
  synopsis: 'snapshot [--object objectdef] [--image-opts] [-U] [-q] [-l | -a snapshot | -c snapshot | -d snapshot] filename',
  options: { short: ':la:c:d:hqU', long: [HELP, OBJECT, IMAGE_OPTS, FORCE_SHARE] },

  async run(context, args) {
    let action: { kind: 'l' | 'a' | 'c' | 'd'; name?: string } | undefined;
    let imageOpts = false;
    for (const option of args.options) {
      switch (option.key) {
        case 'h':
          return context.help();
        case 'l':
        case 'a':
        case 'c':
        case 'd':
          if (action) throw new UsageError("Cannot mix '-l', '-a', '-c', '-d'");
          action = { kind: option.key, ...(option.value !== undefined ? { name: option.value } : {}) };
          break;
        case 'image-opts':
          imageOpts = true;
          break;
        case 'object':
          throw objectsUnsupported();
        case 'q':
        case 'U':
          break;
      }
    }
    if (args.operands.length !== 1) throw new UsageError('Expecting one image file name');
    if (action === undefined) return 0; // qemu-img does nothing without an action
    if (action.kind !== 'l') {
      const verb = { a: 'Applying', c: 'Creating', d: 'Deleting' }[action.kind];
      throw new ToolError(`${verb} snapshots is not supported yet (qcow2 writing is still being built)`);
    }
    const image = await openImage(context.host, { filename: args.operands[0]!, format: undefined, imageOpts }, { readOnly: true });
    try {
      const snapshots = image.describe?.().snapshots ?? [];
      if (snapshots.length) context.console.out(`Snapshot list:\n${snapshotTable(snapshots)}`);
    } finally {
      await image.close();
    }
    return 0;
  },
};
