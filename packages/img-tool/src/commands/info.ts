import type { BlockNode } from '@tessera/core';
import { ToolError, UsageError, errorMessage } from '../cli/errors.ts';
import { parseOutputFormat } from '../cli/values.ts';
import { describeImage, formatJson, infoHuman, infoJson, type ImageInfo } from '../image/describe.ts';
import { METADATA_ONLY, openImage, resolveSource } from '../image/open.ts';
import { isJsonFilename } from '../image/json-filename.ts';
import { pseudoFilename } from '../image/pseudo-filename.ts';
import type { ImageSource } from '../image/spec.ts';
import { FORCE_SHARE, HELP, IMAGE_OPTS, OBJECT, formatConflict, parseImageCommandOptions } from './common.ts';
import type { Command, CommandContext } from './types.ts';

/** `info`: format, virtual size and allocation of an image; opens it read-only. */
export const infoCommand: Command = {
  name: 'info',
  synopsis: 'info [--image-opts] [-f fmt] [--output=ofmt] [--backing-chain] [-U] filename',
  options: {
    short: ':f:hU',
    long: [
      HELP,
      { name: 'format', hasArg: true, key: 'f' },
      { name: 'output', hasArg: true },
      { name: 'backing-chain', hasArg: false },
      OBJECT,
      IMAGE_OPTS,
      FORCE_SHARE,
    ],
  },

  async run(context, args) {
    let chain = false;
    const { help, format, imageOpts, output, forceShare } = parseImageCommandOptions(args, (option) => {
      if (option.key === 'backing-chain') chain = true;
    });
    if (help) return context.help();
    if (args.operands.length !== 1) throw new UsageError('Expecting one image file name');
    const outputFormat = parseOutputFormat(output);
    if (imageOpts && format !== undefined) throw formatConflict();

    // Each image is opened without its backing file, as qemu-img does: a missing backing file
    // (or one that must not be opened, a FIFO) leaves the image describable. With --backing-chain
    // the backing files are then opened one by one, by the names the images give.
    const infos: ImageInfo[] = [];
    const seen = new Set<string>();
    // By name first (qemu-img's way, so its message names the same file), then by the storage's
    // identity: names through links differ at every step of some loops (a dir linked to itself).
    const seenStorage = new Set<string>();
    let next: ImageSource | undefined = { filename: args.operands[0]!, format, imageOpts };
    while (next) {
      const node = await openImage(context.host, next, { readOnly: true, withoutBacking: true, metadataOnly: true, permissions: METADATA_ONLY, forceShare });
      let info: ImageInfo;
      let shownAs: string | undefined;
      const identity = storageIdentity(node);
      // A file met again: refused once its own backing name is known (which qemu-img would name).
      const again = identity !== undefined && seenStorage.has(identity) ? next.filename : undefined;
      try {
        info = await describeImage(node, context.host.block.mapsDirectly(node));
        if (next.imageOpts || isJsonFilename(next.filename)) shownAs = await pseudoFilename(context.host, resolveSource(next), node);
      } finally {
        await node.close();
      }
      if (identity !== undefined) seenStorage.add(identity);
      infos.push(shownAs === undefined ? info : { ...info, filename: shownAs });
      seen.add(info.filename);
      if (!chain || info.backingFilename === undefined) break;
      const backing = backingLocation(context, info);
      if (seen.has(backing)) throw new ToolError(`Backing file '${backing}' creates an infinite loop.`);
      if (again !== undefined) throw new ToolError(`Backing file '${again}' creates an infinite loop.`);
      next = { filename: backing, format: info.backingFormat };
    }
    if (outputFormat === 'json') context.console.out(formatJson(chain ? infos.map(infoJson) : infoJson(infos[0]!)));
    else context.console.out(infos.map(infoHuman).join('\n'));
    return 0;
  },
};

/** What storage a node reads (its protocol node's identity), when the storage tells. */
function storageIdentity(node: BlockNode): string | undefined {
  for (let at: BlockNode | undefined = node; at; at = at.child) if (at.identity !== undefined) return at.identity;
  return undefined;
}

/** Where the next image of the chain is: the layer's rule, so a remote image cannot make info open a local file. */
function backingLocation(context: CommandContext, info: ImageInfo): string {
  try {
    return context.host.block.backingLocation(info.filename, info.backingFilename!);
  } catch (error) {
    throw new ToolError(`Could not open '${info.filename}': Could not open backing file: ${errorMessage(error)}`, 1, { cause: error });
  }
}
