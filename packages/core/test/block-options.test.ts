// Driver option schemas: values checked once, in core, with qemu-img's messages (each message
// below is what qemu-img 7.2 prints for the same `-o`), and the texts generated from a schema.
import { describe, expect, it } from 'vitest';
import {
  formattingSummary,
  optionHelpLines,
  parseAmendOptions,
  parseBlockOptions,
  parseCNumber,
  parseOpenOptions,
  withSizeOption,
} from '../src/block/options.ts';
import { BlockError } from '../src/block/errors.ts';
import type { BlockOptionSpec } from '../src/block/types.ts';

// The shape format modules declare: { name, type, description, default? }.
const SCHEMA: readonly BlockOptionSpec[] = [
  { name: 'cluster_size', type: 'size', description: 'cluster size', default: 65536, printDefault: true },
  { name: 'subformat', type: 'str', description: 'Subformat', default: 'dynamic' },
  { name: 'size', type: 'size', description: 'Virtual disk size' },
  { name: 'refcount_bits', type: 'num', description: 'Width of a reference count entry in bits', default: 16, printDefault: true },
  { name: 'lazy_refcounts', type: 'bool', description: 'Postpone refcount updates', default: false, printDefault: true },
];

function refusal(run: () => unknown): { message: string; code: unknown } {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(BlockError);
    return { message: (error as Error).message, code: (error as BlockError).code };
  }
  throw new Error('not refused');
}

const entries = (text: string) => text.split(',').map((item) => ({ key: item.split('=')[0]!, value: item.split('=')[1]! }));

describe('parseBlockOptions', () => {
  it('hands values over as drivers take them: sizes and numbers in decimal, booleans and strings as given; later entries win', () => {
    expect(parseBlockOptions(entries('cluster_size=4k,refcount_bits=0x10,lazy_refcounts=yes,subformat=fixed,cluster_size=1M'), SCHEMA)).toEqual({
      cluster_size: '1048576',
      refcount_bits: '16',
      lazy_refcounts: 'yes',
      subformat: 'fixed',
    });
    // qemu's strtoull: octal, and a negative number wraps (printed back signed, as qemu prints it).
    expect(parseBlockOptions(entries('refcount_bits=010,size=1.5k'), SCHEMA)).toEqual({ refcount_bits: '8', size: '1536' });
    expect(parseBlockOptions(entries('refcount_bits=-1'), SCHEMA)).toEqual({ refcount_bits: '-1' });
  });

  it.each([
    ['foo=1', "Invalid parameter 'foo'"],
    ['refcount_bits=abc', "Parameter 'refcount_bits' expects a number"],
    ['refcount_bits=16k', "Parameter 'refcount_bits' expects a number"],
    ['refcount_bits=08', "Parameter 'refcount_bits' expects a number"],
    ['refcount_bits=18446744073709551616', "Parameter 'refcount_bits' expects a number"],
    ['lazy_refcounts=maybe', "Parameter 'lazy_refcounts' expects 'on' or 'off'"],
    ['cluster_size=-1', "Parameter 'cluster_size' expects a non-negative number below 2^64\nOptional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\nand exabytes, respectively."],
    ['cluster_size=8E', "Value '8E' is out of range for parameter 'cluster_size'"],
  ])('-o %s: refused with qemu-img\'s words, coded invalid-option', (text, message) => {
    expect(refusal(() => parseBlockOptions(entries(text), SCHEMA))).toEqual({ message, code: 'invalid-option' });
  });

  it('reads C numbers as strtoull does', () => {
    expect([' +42', '0', '0x1F', '0777', '-0x10'].map(parseCNumber)).toEqual([42n, 0n, 31n, 511n, -16n]);
    expect(['', '0x', '1.5', '12 ', '9'.repeat(21)].map(parseCNumber)).toEqual([undefined, undefined, undefined, undefined, undefined]);
  });
});

describe('amend options', () => {
  const amendable = SCHEMA.filter((spec) => spec.name === 'size' || spec.name === 'lazy_refcounts');
  it('refuses creation-only and unknown keys before looking at any value', () => {
    expect(refusal(() => parseAmendOptions(entries('lazy_refcounts=maybe,cluster_size=4k'), amendable, SCHEMA)).message).toBe(
      "Invalid parameter 'cluster_size'\nThis option is only supported for image creation",
    );
    expect(refusal(() => parseAmendOptions(entries('foo=1'), amendable, SCHEMA)).message).toBe("Invalid parameter 'foo'");
    expect(parseAmendOptions(entries('size=2M,lazy_refcounts=on'), amendable, SCHEMA)).toEqual({ size: '2097152', lazy_refcounts: 'on' });
  });
});

describe('open options', () => {
  it("refuses a key the format does not take in qemu's words, then checks values", () => {
    expect(refusal(() => parseOpenOptions('qcow2', { 'l2-cache-size': '1M' }, [])).message).toBe("Block format 'qcow2' does not support the option 'l2-cache-size'");
    expect(parseOpenOptions('vmdk', { cluster_size: '4k' }, SCHEMA)).toEqual({ cluster_size: '4096' });
  });
});

describe('texts from a schema', () => {
  it('-o help: sorted, types as qemu-img shows them, help text aligned at column 25', () => {
    expect(optionHelpLines(SCHEMA)).toEqual([
      '  cluster_size=<size>    - cluster size',
      '  lazy_refcounts=<bool (on/off)> - Postpone refcount updates',
      '  refcount_bits=<num>    - Width of a reference count entry in bits',
      '  size=<size>            - Virtual disk size',
      '  subformat=<str>        - Subformat',
    ]);
  });

  it('the Formatting line: schema order, given values and the printed defaults', () => {
    expect(formattingSummary(SCHEMA, { size: '1048576', lazy_refcounts: 'on' })).toEqual([
      'cluster_size=65536',
      'size=1048576',
      'refcount_bits=16',
      'lazy_refcounts=on',
    ]);
    // A driver that does not declare size gets it first.
    const bare = withSizeOption([{ name: 'subformat', type: 'str', description: 'Subformat' }]);
    expect(formattingSummary(bare, { size: '512', subformat: 'fixed' })).toEqual(['size=512', 'subformat=fixed']);
  });
});
