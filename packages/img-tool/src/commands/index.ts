import { amendCommand } from './amend.ts';
import { benchCommand } from './bench.ts';
import { bitmapCommand } from './bitmap.ts';
import { checkCommand } from './check.ts';
import { commitCommand } from './commit.ts';
import { compareCommand } from './compare.ts';
import { convertCommand } from './convert.ts';
import { createCommand } from './create.ts';
import { ddCommand } from './dd.ts';
import { infoCommand } from './info.ts';
import { mapCommand } from './map.ts';
import { measureCommand } from './measure.ts';
import { rebaseCommand } from './rebase.ts';
import { resizeCommand } from './resize.ts';
import { snapshotCommand } from './snapshot.ts';
import type { Command } from './types.ts';

/** Every subcommand, in the order `--help` lists them. New ones (check, map, resize, …) go here. */
export const commands: readonly Command[] = [amendCommand, benchCommand, bitmapCommand, checkCommand, commitCommand, compareCommand, convertCommand, createCommand, ddCommand, infoCommand, mapCommand, measureCommand, rebaseCommand, resizeCommand, snapshotCommand];

export function findCommand(name: string): Command | undefined {
  return commands.find((command) => command.name === name);
}
