import type { CodedBlockError } from '@tessera/core';
import { codedError } from '../coded-error.ts';

/** An impossible field: qemu's message for the case, under "Could not open". */
export const corrupt = (filename: string, what: string): CodedBlockError => codedError(`Could not open '${filename}': ${what}`, 'corrupt-image');

/** A valid image using something the driver does not implement, under "Could not open". */
export const unsupported = (filename: string, what: string): CodedBlockError => codedError(`Could not open '${filename}': ${what}`, 'unsupported-feature');
