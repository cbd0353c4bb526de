import { ToolError, UsageError, errorMessage } from '../cli/errors.ts';
import { checkCacheMode } from '../cli/values.ts';
import { parseCreateOptions } from '../image/create-options.ts';
import { formatTraits } from '../image/formats.ts';
import { asksForHelp, isValidOptionList, parseKeyValueList } from '../image/key-value.ts';
import { openImage } from '../image/open.ts';
import { Progress } from '../image/progress.ts';
import { HELP, IMAGE_OPTS, OBJECT, formatConflict, objectsUnsupported } from './common.ts';
import type { Command } from './types.ts';

/** What `amend -o help` lists for qcow2, as qemu-img 7.2 prints it (the encrypt.* keys included). */
const QCOW2_AMEND_HELP = `Amend options for 'qcow2':
  backing_file=<str>     - File name of a base image
  backing_fmt=<str>      - Image format of the base image
  compat=<str>           - Compatibility level (v2 [0.10] or v3 [1.1])
  data_file=<str>        - File name of an external data file
  data_file_raw=<bool (on/off)> - The external data file must stay valid as a raw image
  encrypt.iter-time=<num> - Time to spend in PBKDF in milliseconds
  encrypt.keyslot=<num>  - Select a single keyslot to modify explicitly
  encrypt.new-secret=<str> - New secret to set in the matching keyslots. Empty string to erase
  encrypt.old-secret=<str> - Select all keyslots that match this password
  encrypt.state=<str>    - Select new state of affected keyslots (active/inactive)
  lazy_refcounts=<bool (on/off)> - Postpone refcount updates
  refcount_bits=<num>    - Width of a reference count entry in bits
  size=<size>            - Virtual disk size
`;
const AMENDABLE = ['backing_file', 'backing_fmt', 'compat', 'data_file', 'data_file_raw', 'lazy_refcounts', 'refcount_bits', 'size'];

/** `amend`: change format options of an existing image in place. */
export const amendCommand: Command = {
  name: 'amend',
  synopsis: 'amend [--object objectdef] [--image-opts] [-p] [-q] [-f fmt] [-t cache] [--force] -o options filename',
  options: { short: ':ho:f:t:pq', long: [HELP, OBJECT, IMAGE_OPTS, { name: 'force', hasArg: false }] },

  async run(context, args) {
    let format: string | undefined;
    let imageOpts = false;
    let progress = false;
    let quiet = false;
    let cache: string | undefined;
    const optionLists: string[] = [];
    for (const option of args.options) {
      switch (option.key) {
        case 'h':
          return context.help();
        case 'o':
          if (!isValidOptionList(option.value!)) throw new ToolError(`Invalid option list: ${option.value}`);
          optionLists.push(option.value!);
          break;
        case 'f':
          format = option.value;
          break;
        case 't':
          cache = option.value;
          break;
        case 'p':
          progress = true;
          break;
        case 'q':
          quiet = true;
          break;
        case 'image-opts':
          imageOpts = true;
          break;
        case 'force':
          break; // no option here needs forcing
        case 'object':
          throw objectsUnsupported();
      }
    }
    if (optionLists.length === 0) throw new UsageError('Must specify options (-o)');
    const entries = parseKeyValueList(optionLists.join(','));
    const filename = args.operands.length === 1 ? args.operands[0] : undefined;
    if (filename === undefined && !asksForHelp(entries)) throw new ToolError('Expecting one image file name');
    if (filename === undefined) throw new ToolError('Expecting one image file name');
    if (imageOpts && format !== undefined) throw formatConflict();
    if (cache !== undefined) checkCacheMode(cache, false);

    const image = await openImage(context.host, { filename, format, imageOpts }, { readOnly: false });
    try {
      if (!image.amend) throw new ToolError(`Format driver '${image.driver}' does not support option amendment`);
      if (asksForHelp(entries)) {
        context.console.out(image.driver === 'qcow2' ? QCOW2_AMEND_HELP : `Amend options for '${image.driver}':\n`);
        return 0;
      }
      const options = amendOptions(entries, await formatTraits(context.host, image.driver));
      if (options.backing_file !== undefined || options.backing_fmt !== undefined) {
        throw new ToolError(`Cannot amend the backing file\nYou can use '${context.console.program} rebase' instead.`);
      }
      const display = new Progress((text) => context.console.out(text), progress && !quiet);
      display.start();
      try {
        await image.amend(options);
        await image.flush();
      } catch (error) {
        throw new ToolError(errorMessage(error), 1, { cause: error });
      } finally {
        display.set(100);
        display.end();
      }
    } finally {
      await image.close();
    }
    return 0;
  },
};

/** The `-o` entries checked as creation options, with the creation-only ones refused as qemu-img refuses them. */
function amendOptions(entries: ReturnType<typeof parseKeyValueList>, traits: Awaited<ReturnType<typeof formatTraits>>): Record<string, string> {
  for (const { key } of entries) {
    if (!traits.createOptions.some((option) => option.name === key)) throw new ToolError(`Invalid parameter '${key}'`);
    if (!AMENDABLE.includes(key)) throw new ToolError(`Invalid parameter '${key}'\nThis option is only supported for image creation`);
  }
  let parsed;
  try {
    parsed = parseCreateOptions(entries, traits, 'amend.img');
  } catch (error) {
    throw new ToolError(errorMessage(error), 1, { cause: error });
  }
  return { ...parsed.formatOptions, ...(parsed.size !== undefined ? { size: String(parsed.size) } : {}) };
}
