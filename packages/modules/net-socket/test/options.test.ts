import { describe, expect, it } from 'vitest';
import { parseSocketOptions } from '../src/socket-options.ts';
import { socketNetdev } from '../src/socket-netdev.ts';

describe('-netdev socket options', () => {
  it('declares its name and options', () => {
    expect(socketNetdev.name).toBe('socket');
    expect([...(socketNetdev.options ?? [])].sort()).toEqual(['connect', 'listen', 'localaddr', 'mcast', 'udp']);
  });

  it('parses each mode', () => {
    expect(parseSocketOptions({ id: 'n0', listen: '127.0.0.1:1234' })).toEqual({ mode: 'listen', address: { host: '127.0.0.1', port: 1234 } });
    expect(parseSocketOptions({ listen: ':1234' })).toEqual({ mode: 'listen', address: { host: undefined, port: 1234 } });
    expect(parseSocketOptions({ connect: 'localhost:65535' })).toEqual({ mode: 'connect', address: { host: 'localhost', port: 65535 } });
    expect(parseSocketOptions({ mcast: '230.0.0.1:1234', localaddr: '127.0.0.1' })).toEqual({
      mode: 'mcast', group: '230.0.0.1', port: 1234, localAddress: '127.0.0.1',
    });
    expect(parseSocketOptions({ mcast: '239.1.2.3:5000' })).toEqual({ mode: 'mcast', group: '239.1.2.3', port: 5000 });
    expect(parseSocketOptions({ udp: '127.0.0.1:2000', localaddr: '127.0.0.1:2001' })).toEqual({
      mode: 'udp', remote: { host: '127.0.0.1', port: 2000 }, local: { host: '127.0.0.1', port: 2001 },
    });
  });

  it.each([
    [{}, /^exactly one of listen=, connect=, mcast= or udp= is required$/],
    [{ id: 'n0' }, 'exactly one of listen=, connect=, mcast= or udp= is required'],
    [{ listen: ':1', connect: 'a:2' }, 'exactly one of listen=, connect=, mcast= or udp= is required'],
    [{ listen: ':1', localaddr: '127.0.0.1' }, 'localaddr= is only valid with mcast= or udp='],
    [{ udp: '127.0.0.1:2000' }, 'localaddr= is mandatory with udp='],
    [{ listen: '1234' }, "listen=1234: host address '1234' doesn't contain ':' separating host from port"],
    [{ connect: ':1234' }, 'connect=:1234: a host is required'],
    [{ connect: '127.0.0.1:0' }, "connect=127.0.0.1:0: error parsing port '0'"],
    [{ connect: '127.0.0.1:65536' }, "connect=127.0.0.1:65536: error parsing port '65536'"],
    [{ listen: '127.0.0.1:http' }, "listen=127.0.0.1:http: error parsing port 'http'"],
    [{ listen: '127.0.0.1:' }, "listen=127.0.0.1:: error parsing port ''"],
    [{ connect: 'bad host:1' }, "connect=bad host:1: 'bad host' is not a host name or IPv4 address"],
    [{ connect: '[::1]:1' }, 'connect=[::1]:1: IPv6 addresses are not supported'],
    [{ mcast: '10.0.0.1:1234' }, "mcast=10.0.0.1:1234: '10.0.0.1' is not an IPv4 multicast address"],
    [{ mcast: 'example.org:1234' }, "'example.org' is not an IPv4 multicast address"],
    [{ mcast: '230.0.0.1:1234', localaddr: 'lo' }, 'localaddr=lo: not a valid IPv4 address'],
    [{ udp: '127.0.0.1:2000', localaddr: '127.0.0.1' }, "localaddr=127.0.0.1: host address '127.0.0.1' doesn't contain ':'"],
    [{ fd: '3' }, 'fd= is not supported'],
    [{ listen: ':1', port: '2' }, "invalid parameter 'port'"],
  ])('rejects %o', (options, message) => {
    expect(() => parseSocketOptions(options)).toThrow(message);
  });

  it('rejects bad options from open() before touching the network', async () => {
    await expect(socketNetdev.open({ connect: 'nowhere' })).rejects.toThrow("connect=nowhere: host address 'nowhere' doesn't contain ':'");
  });
});
