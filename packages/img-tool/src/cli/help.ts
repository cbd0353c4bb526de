import type { ModuleList } from '@tessera/core';
import type { Command } from '../commands/types.ts';

export function versionText(list: ModuleList): string {
  return `${list.executable} version ${list.version} (configuration ${list.configuration})\n`;
}

/** `--help`: qemu-img's help, for the commands and drivers this executable has. */
export function helpText(list: ModuleList, commands: readonly Command[], drivers: readonly string[]): string {
  const program = list.executable;
  return [
    versionText(list).trimEnd(),
    `usage: ${program} [standard options] command [command options]`,
    'Tessera disk image utility (qemu-img compatible)',
    '',
    "    '-h', '--help'       display this help and exit",
    "    '-V', '--version'    output version information and exit",
    "    '--list-modules [--output=json]'",
    '                         list the modules of this executable and exit',
    '',
    'Command syntax:',
    ...commands.map((command) => `  ${command.synopsis}`),
    '',
    'Command parameters:',
    "  'filename' is a disk image filename, or an http(s):// URL to read from",
    "  'fmt' is the disk image format. It is guessed automatically in most cases",
    "  'cache' and 'src_cache' are the cache modes of the output and input images",
    "    ('none', 'writeback', 'writethrough', 'directsync', 'unsafe'); they are",
    '    checked but do not change how this tool does its I/O',
    "  'size' is the disk image size in bytes. Optional suffixes",
    "    'k' or 'K' (kilobyte, 1024), 'M' (megabyte, 1024k), 'G' (gigabyte, 1024M),",
    "    'T' (terabyte, 1024G), 'P' (petabyte, 1024T) and 'E' (exabyte, 1024P)  are",
    "    supported. 'b' is ignored.",
    "  'output_filename' is the destination disk image filename",
    "  'output_fmt' is the destination format",
    "  'options' is a comma separated list of format specific options in a",
    '    name=value format. Use -o help for an overview of the options supported by',
    '    the used format',
    "  '--image-opts' takes the image as an option string such as",
    "    'driver=raw,file.driver=https,file.url=https://host/disk.img,file.sslverify=off'",
    "  '-h' with or without a command shows this help and lists the supported formats",
    "  '-p' show progress of command (only certain commands)",
    "  '-q' use Quiet mode - do not print any output (except errors)",
    "  '-S' indicates the consecutive number of bytes (defaults to 4k) that must",
    '       contain only zeros for the output to stay sparse (unwritten) there during',
    '       conversion. If the number of bytes is 0, every block is written and the',
    '       destination image is fully allocated',
    "  '--output' takes the format in which the output must be done (human or json)",
    "  '-n' skips the target volume creation (useful if the volume is created",
    '       prior to running the conversion)',
    '',
    'Parameters to compare subcommand:',
    "  '-f' first image format",
    "  '-F' second image format",
    "  '-s' run in Strict mode - fail on different image size or sector allocation",
    '',
    `Supported formats: ${drivers.join(' ')}`,
    '',
  ].join('\n');
}
