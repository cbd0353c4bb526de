// tessera-nbd's compile-time module list: block modules only, as the image tool's.
import { describe, expect, it } from 'vitest';
import { workspaceRoot } from '../../../tools/test-support/executables.ts';
// @ts-expect-error: build tools are plain .mjs
import { readAppManifest, readModuleManifests } from '../../../tools/module-list/manifests.mjs';
// @ts-expect-error: build tools are plain .mjs
import { readCoreSignatures } from '../../../tools/module-list/signatures.mjs';
// @ts-expect-error: build tools are plain .mjs
import { resolveModuleList } from '../../../tools/module-list/validate.mjs';

describe("tessera-nbd's module list", () => {
  const app = readAppManifest(`${workspaceRoot}packages/nbd-server`);
  const resolve = (modules: Record<string, string>) =>
    resolveModuleList({ ...app, modules }, readModuleManifests(workspaceRoot), 'modular', readCoreSignatures(workspaceRoot));

  it('holds every block module of the image tool, the three common formats built in', () => {
    const tool = readAppManifest(`${workspaceRoot}packages/img-tool`);
    expect(app.accepts).toEqual(['block']);
    expect(Object.keys(app.modules).sort()).toEqual(Object.keys(tool.modules).sort());
    expect(resolve(app.modules).filter((m: { linkage: string }) => m.linkage === 'builtin').map((m: { name: string }) => m.name)).toEqual(['block-file', 'block-raw', 'block-qcow2']);
  });

  it('refuses a ui or net module, naming it, as the build does', () => {
    expect(() => resolve({ ...app.modules, 'ui-web': 'loadable' })).toThrow('module ui-web is a ui module; this executable accepts only block modules');
    expect(() => resolve({ ...app.modules, 'net-socket': 'builtin' })).toThrow('module net-socket is a net module; this executable accepts only block modules');
  });
});
