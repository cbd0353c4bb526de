import { UsageError } from '../cli/errors.ts';
import { parseOutputFormat } from '../cli/values.ts';
import { describeImage, formatJson, infoHuman, infoJson } from '../image/describe.ts';
import { METADATA_ONLY, openImage } from '../image/open.ts';
import { FORCE_SHARE, HELP, IMAGE_OPTS, OBJECT, formatConflict, parseImageCommandOptions } from './common.ts';
import type { Command } from './types.ts';

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

    const node = await openImage(context.host, { filename: args.operands[0]!, format, imageOpts }, { readOnly: true, permissions: METADATA_ONLY, forceShare });
    // With --backing-chain, every image down the chain, each described as it is opened.
    const infos = [];
    try {
      for (let image: typeof node | undefined = node; image; image = chain ? image.backing : undefined) {
        infos.push(await describeImage(image));
      }
    } finally {
      await node.close();
    }
    if (outputFormat === 'json') context.console.out(formatJson(chain ? infos.map(infoJson) : infoJson(infos[0]!)));
    else context.console.out(infos.map(infoHuman).join('\n'));
    return 0;
  },
};
