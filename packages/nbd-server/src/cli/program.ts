// The program: command line, the image opened with the locks a writer or reader takes, the
// listener started; it runs until its last client leaves (or for ever with -t) or a signal.
import { unlinkSync, writeFileSync } from 'node:fs';
import { formatModuleReport, type BlockNode, type Host } from '@tessera/core';
import { ToolError } from '../../../img-tool/src/cli/errors.ts';
import { couldNotOpen, openImage } from '../../../img-tool/src/image/open.ts';
import { defineObjects } from '../../../img-tool/src/objects/define.ts';
import { definedObjects } from '../../../img-tool/src/objects/user-objects.ts';
import { DirtyBitmapStatus, exportedBitmap } from '../server/dirty-bitmap.ts';
import { NbdExport } from '../server/export.ts';
import { NbdListener } from '../server/listener.ts';
import { tlsSettings, type TlsServerSettings } from '../server/tls.ts';
import { forkServer, signalReady } from './fork.ts';
import { helpText, versionText } from './help.ts';
import { OptionError, parseServerOptions, UsageError, type ServerOptions } from './options.ts';

export async function runServer(host: Host, argv: readonly string[]): Promise<number> {
  const program = host.list.executable;
  const fail = (message: string): number => {
    process.stderr.write(`${program}: ${message}\n`);
    return 1;
  };
  let options: ServerOptions;
  let tls: TlsServerSettings | undefined;
  try {
    options = parseServerOptions(argv);
    if (options.action === 'serve') {
      // The image tool's --object table: secrets, TLS credentials, authz, with qemu's messages.
      defineObjects(host, options.objects);
      const report = (message: string) => process.stderr.write(`${program}: ${message}\n`);
      tls = options.tlsCreds === undefined ? undefined : tlsSettings(definedObjects(), options.tlsCreds, options.tlsAuthz, report);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      // getopt's complaints carry the program's name on both lines; the operand count's only on the first (as qemu-nbd).
      const hint = `Try \`${program} --help' for more information.`;
      return fail(`${error.message}\n${error.message === 'Invalid number of arguments' ? '' : `${program}: `}${hint}`);
    }
    if (error instanceof OptionError || error instanceof ToolError) return fail(error.message);
    throw error;
  }
  switch (options.action) {
    case 'help':
      process.stdout.write(helpText(host.list));
      return 0;
    case 'version':
      process.stdout.write(versionText(host.list));
      return 0;
    case 'list-modules': {
      const output = options.listModulesOutput ?? 'human';
      if (output !== 'human' && output !== 'json') return fail(`--output must be 'human' or 'json', not '${output}'`);
      process.stdout.write(formatModuleReport(await host.listModules(), output));
      return 0;
    }
  }
  if (options.fork && !process.env.TESSERA_NBD_READY_FD) return forkServer(argv);
  return serve(host, options, tls, fail);
}

async function serve(host: Host, options: ServerOptions, tls: TlsServerSettings | undefined, fail: (m: string) => number): Promise<number> {
  let node: BlockNode;
  try {
    node = await openImage(
      host,
      { filename: options.filename, ...(options.format !== undefined ? { format: options.format } : {}), imageOpts: options.imageOpts },
      { readOnly: options.readOnly, ...(options.cache ? { cache: options.cache } : {}) },
    );
  } catch (error) {
    // qemu-nbd words it "Failed to blk_new_open 'NAME': <why>", where a local file the system
    // refuses to open says "Could not open 'NAME': …" once (img-tool's message says it twice, as qemu-img's).
    const message = couldNotOpen(options.filename, (error as Error).cause ?? error).replace(`Could not open '${options.filename}': `, '');
    return fail(`Failed to blk_new_open '${options.filename}': ${message}`);
  }
  let dirtyBitmap: DirtyBitmapStatus | undefined;
  if (options.bitmap !== undefined) {
    try {
      dirtyBitmap = new DirtyBitmapStatus(node, exportedBitmap(node, options.bitmap));
    } catch (error) {
      await node.close();
      return fail((error as Error).message);
    }
  }
  const image = new NbdExport(node, {
    name: options.exportName,
    description: options.description,
    readOnly: options.readOnly || node.readOnly,
    discard: options.discard,
    detectZeroes: options.detectZeroes,
    allocationDepth: options.allocationDepth,
    ...(dirtyBitmap ? { dirtyBitmap } : {}),
  });
  const listener = new NbdListener(image, { listen: options.listen, shared: options.shared, persistent: options.persistent, tls });
  // Taken before listening: a signal as soon as clients can connect still closes the image and removes the socket.
  const stopped = new Promise<void>((resolve) => {
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(signal, () => resolve());
  });
  try {
    await listener.listen();
  } catch (error) {
    await node.close();
    return fail(listenFailure(options, error));
  }
  if (options.pidFile !== undefined) writeFileSync(options.pidFile, `${process.pid}\n`);
  signalReady();
  await Promise.race([listener.done, stopped]);
  listener.close();
  await node.close();
  if (options.pidFile !== undefined) {
    try {
      unlinkSync(options.pidFile);
    } catch {
      // removed by someone else
    }
  }
  return 0;
}

function listenFailure(options: ServerOptions, error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  const listen = options.listen;
  if (listen.kind === 'tcp') {
    if (code === 'EADDRINUSE') return 'Failed to find an available port: Address already in use';
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `address resolution failed for ${listen.host}:${listen.port}: Name or service not known`;
    if (code === 'EADDRNOTAVAIL') return `Failed to bind socket: Cannot assign requested address`;
  } else if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'ENOENT') {
    const why = code === 'EACCES' ? 'Permission denied' : code === 'ENOENT' ? 'No such file or directory' : 'Address already in use';
    return `Failed to bind socket to ${listen.path}: ${why}`;
  }
  return error instanceof Error ? error.message : String(error);
}
