// QEMU's NBD locations: what qemu-img 7.2 accepts (and names the image by) against qemu-nbd, and
// what it refuses with "No valid URL specified".
import { describe, expect, it } from 'vitest';
import { parseNbdLocation } from '../src/nbd-url.ts';

describe('NBD locations', () => {
  it.each([
    ['nbd://127.0.0.1:10901/disk', { kind: 'tcp', host: '127.0.0.1', port: 10901 }, 'disk', 'nbd://127.0.0.1:10901/disk'],
    ['nbd+tcp://127.0.0.1:10901/disk', { kind: 'tcp', host: '127.0.0.1', port: 10901 }, 'disk', 'nbd://127.0.0.1:10901/disk'],
    ['nbd://example.org/disk', { kind: 'tcp', host: 'example.org', port: 10809 }, 'disk', 'nbd://example.org:10809/disk'],
    ['nbd://[::1]:7000/a%20b', { kind: 'tcp', host: '::1', port: 7000 }, 'a b', 'nbd://[::1]:7000/a b'],
    ['nbd://user@127.0.0.1:10901/disk', { kind: 'tcp', host: '127.0.0.1', port: 10901 }, 'disk', 'nbd://127.0.0.1:10901/disk'],
    ['nbd://127.0.0.1:10901', { kind: 'tcp', host: '127.0.0.1', port: 10901 }, '', 'nbd://127.0.0.1:10901'],
    ['nbd+unix:///disk?socket=/run/s.sock', { kind: 'unix', path: '/run/s.sock' }, 'disk', 'nbd+unix:///disk?socket=/run/s.sock'],
    ['nbd+unix:///?socket=/run/s.sock', { kind: 'unix', path: '/run/s.sock' }, '', 'nbd+unix://?socket=/run/s.sock'],
    ['nbd:127.0.0.1:10901:exportname=disk', { kind: 'tcp', host: '127.0.0.1', port: 10901 }, 'disk', 'nbd://127.0.0.1:10901/disk'],
    ['nbd:localhost:10901:exportname=disk:foo=bar', { kind: 'tcp', host: 'localhost', port: 10901 }, 'disk:foo=bar', 'nbd://localhost:10901/disk:foo=bar'],
    ['nbd:127.0.0.1:10901', { kind: 'tcp', host: '127.0.0.1', port: 10901 }, '', 'nbd://127.0.0.1:10901'],
    ['nbd:unix:/run/s.sock:exportname=disk', { kind: 'unix', path: '/run/s.sock' }, 'disk', 'nbd+unix:///disk?socket=/run/s.sock'],
  ])('%s', (location, address, exportName, canonical) => {
    expect(parseNbdLocation(location)).toEqual({ address, exportName, canonical });
  });

  it.each([
    'nbd://127.0.0.1:10901/disk?socket=x',
    'nbd+unix:///disk',
    'nbd+unix://host/disk?socket=/run/s.sock',
    'nbd+unix:///disk?socket=/a&socket=/b',
    'nbd:///disk',
    'nbd:host',
    'nbd://127.0.0.1:70000/disk',
    `nbd://127.0.0.1/${'x'.repeat(4097)}`,
  ])('%s is refused as qemu refuses it', (location) => {
    expect(() => parseNbdLocation(location)).toThrow(expect.objectContaining({ code: 'invalid-option', message: expect.stringContaining(`Could not open '`) }));
    expect(() => parseNbdLocation(location)).toThrow(/No valid URL specified/);
  });
});
