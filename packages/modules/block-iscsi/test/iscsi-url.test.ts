import { describe, expect, it } from 'vitest';
import { parseIscsiOptions } from '../src/iscsi-options.ts';
import { parseIscsiUrl } from '../src/iscsi-url.ts';

describe('iscsi:// URLs (QEMU\'s form)', () => {
  it('reads host, default port, target, LUN and user%password; messages and the node name drop the password', () => {
    expect(parseIscsiUrl('iscsi://10.0.0.1/iqn.2001-04.com.example:disk/0')).toMatchObject({ host: '10.0.0.1', port: 3260, targetName: 'iqn.2001-04.com.example:disk', lun: 0 });
    const withAuth = parseIscsiUrl('iscsi://alice%s3cr%40t@[::1]:3261/iqn.x:y/5');
    expect(withAuth).toMatchObject({ host: '::1', port: 3261, lun: 5, user: 'alice', password: 's3cr@t', shown: 'iscsi://alice@[::1]:3261/iqn.x:y/5' });
  });

  it('refuses what qemu refuses: no LUN, a LUN out of range, a bad port', () => {
    for (const bad of ['iscsi://host/iqn.x', 'iscsi://host/iqn.x/16384', 'iscsi://host:0/iqn.x/1', 'iscsi:///iqn.x/1', 'iscsi://host/iqn.x/1/extra']) {
      expect(() => parseIscsiUrl(bad)).toThrow(expect.objectContaining({ code: 'invalid-option' }));
    }
  });

  it('options: user/password from the URL unless given, bounded timeouts (0 = the default, never unbounded)', () => {
    const options = parseIscsiOptions('u', { timeout: '0', 'connect-timeout': '2.5', password: 'p2' }, { user: 'a', password: 'p1' });
    expect(options).toMatchObject({ user: 'a', password: 'p2', commandTimeoutMs: 30_000, connectTimeoutMs: 2500, initiatorName: 'iqn.2008-11.org.linux-kvm' });
    expect(() => parseIscsiOptions('u', { timeout: 'forever' }, {})).toThrow(expect.objectContaining({ code: 'invalid-option' }));
    expect(() => parseIscsiOptions('u', { 'header-digest': 'crc32c' }, {})).toThrow(expect.objectContaining({ code: 'unsupported-feature' }));
  });
});
