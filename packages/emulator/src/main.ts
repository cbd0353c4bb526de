#!/usr/bin/env node
import { Host, formatModuleReport } from '@tessera/core';
import { moduleList } from '#module-list';

const host = new Host(moduleList, { executableUrl: import.meta.url });
const args = process.argv.slice(2);
if (args[0] === '--list-modules') {
  const json = args.includes('--output=json');
  process.stdout.write(formatModuleReport(await host.listModules(), json ? 'json' : 'human'));
}
