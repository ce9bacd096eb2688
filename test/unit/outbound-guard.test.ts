// The outbound guard's address classifier and URL checks (no network: a fake resolver).
import { describe, expect, it } from 'vitest';
import { classifyAddress, OutboundRefusedError, resolveOutbound } from '../../src/domain/notifications/outbound.js';

describe('classifyAddress', () => {
  const cases: Array<[string, string]> = [
    ['8.8.8.8', 'public'],
    ['1.1.1.1', 'public'],
    ['172.32.0.1', 'public'],
    ['100.128.0.1', 'public'],
    ['0.0.0.0', 'unspecified'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['2606:4700:4700::1111', 'public'],
    ['2001:4860:4860::8888', 'public'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf::1', 'link-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456:789a::1', 'unique-local'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:a9fe:a9fe', 'link-local'],
    ['::ffff:8.8.8.8', 'public'],
    ['64:ff9b::192.168.0.1', 'private'],
    ['::127.0.0.1', 'reserved'],
    ['2001:db8::1', 'reserved'],
  ];
  it.each(cases)('%s is %s', (address, expected) => {
    expect(classifyAddress(address)).toBe(expected);
  });

  it('refuses to classify what is not an address', () => {
    expect(() => classifyAddress('example.com')).toThrow();
  });
});

describe('resolveOutbound', () => {
  const dns = (table: Record<string, string[]>) => async (host: string) => {
    const addresses = table[host];
    if (!addresses) throw new Error('ENOTFOUND');
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  const strict = {
    allowPrivate: false,
    resolve: dns({ 'hooks.example': ['93.184.216.34'], 'evil.example': ['93.184.216.34', '10.0.0.5'], 'local.example': ['127.0.0.1'], 'v6.example': ['::1'] }),
  };

  it('accepts a public host and pins the address it checked', async () => {
    const target = await resolveOutbound('https://hooks.example/in?x=1', strict);
    expect(target).toMatchObject({ address: '93.184.216.34', family: 4 });
    expect(target.url.pathname).toBe('/in');
  });

  it.each([
    ['http://127.0.0.1:8080/hook', 'loopback'],
    ['http://[::1]/hook', 'loopback'],
    ['http://[::ffff:127.0.0.1]/hook', 'loopback'],
    ['http://169.254.169.254/latest/meta-data', 'link-local'],
    ['http://local.example/hook', 'loopback'],
    ['http://v6.example/hook', 'loopback'],
    ['http://evil.example/hook', 'private'],
    ['http://0.0.0.0/', 'unspecified'],
    ['http://2130706433/', 'loopback'],
  ])('refuses %s (%s)', async (url, why) => {
    await expect(resolveOutbound(url, strict)).rejects.toThrow(why);
  });

  it.each(['ftp://hooks.example/', 'file:///etc/passwd', 'not a url', 'http://user:pw@hooks.example/', 'http://nowhere.example/'])(
    'refuses %s',
    async (url) => {
      await expect(resolveOutbound(url, strict)).rejects.toBeInstanceOf(OutboundRefusedError);
    },
  );

  it('lets private addresses through when allowed, still pinning them', async () => {
    await expect(resolveOutbound('http://127.0.0.1:9/x', { ...strict, allowPrivate: true })).resolves.toMatchObject({ address: '127.0.0.1' });
    await expect(resolveOutbound('http://local.example/x', { ...strict, allowPrivate: true })).resolves.toMatchObject({ address: '127.0.0.1' });
  });
});
