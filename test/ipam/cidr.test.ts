import { describe, expect, it } from 'vitest';
import { cidrContains, formatIpv4, hostRange, parseIpv4, parseIpv4Cidr } from '../../src/ipam/cidr.js';

describe('IPv4 parsing', () => {
  it('round-trips dotted quads and rejects junk', () => {
    expect(formatIpv4(parseIpv4('10.244.1.7')!)).toBe('10.244.1.7');
    expect(parseIpv4('255.255.255.255')).toBe(0xffffffff);
    for (const bad of ['10.0.0', '10.0.0.256', '10.0.0.-1', '010.0.0.1', '1.2.3.4.5', 'a.b.c.d', '']) expect(parseIpv4(bad)).toBeUndefined();
  });

  it('parses CIDRs and explains what is wrong', () => {
    expect(parseIpv4Cidr('10.244.1.0/24')).toEqual({ network: parseIpv4('10.244.1.0'), prefix: 24, text: '10.244.1.0/24' });
    expect(parseIpv4Cidr('10.244.1.5/24')).toEqual({ error: 'has host bits set (the network is 10.244.1.0/24)' });
    expect(parseIpv4Cidr('10.244.1.0')).toHaveProperty('error');
    expect(parseIpv4Cidr('10.244.1.0/33')).toHaveProperty('error');
    expect(parseIpv4Cidr('10.244.1/24')).toHaveProperty('error');
  });

  it('host range skips network and broadcast only', () => {
    const c = parseIpv4Cidr('10.0.0.0/30') as Exclude<ReturnType<typeof parseIpv4Cidr>, { error: string }>;
    const r = hostRange(c);
    expect([formatIpv4(r.first), formatIpv4(r.last), r.size]).toEqual(['10.0.0.1', '10.0.0.2', 2]);
    const c24 = parseIpv4Cidr('192.168.5.0/24') as typeof c;
    expect(hostRange(c24).size).toBe(254);
    expect(cidrContains(c24, parseIpv4('192.168.5.255')!)).toBe(true);
    expect(cidrContains(c24, parseIpv4('192.168.6.0')!)).toBe(false);
  });
});
