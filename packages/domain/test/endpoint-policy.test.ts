/**
 * The endpoint policy over generated addresses of every class, each written in every spelling a
 * URL accepts. The expected class comes from how the address was generated (inside a known
 * range), not from the code under test. Nothing here sends traffic anywhere.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { addressRefusal, type AddressClass, classifyAddress, type EndpointPolicy, endpointRefusal } from '../src/index.js';

const DEV: EndpointPolicy = { allowPrivateEndpoints: true };
const PROD: EndpointPolicy = { allowPrivateEndpoints: false };

type Octets = [number, number, number, number];
const octet = fc.integer({ min: 0, max: 255 });

/** An IPv4 address inside `base/prefix`, as four octets. */
function inV4(base: Octets, prefix: number): fc.Arbitrary<Octets> {
  return fc.integer({ min: 0, max: 2 ** (32 - prefix) - 1 }).map((offset) => {
    const start = ((base[0] << 24) | (base[1] << 16) | (base[2] << 8) | base[3]) >>> 0;
    const n = (start + offset) >>> 0;
    return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  });
}

const V4_CLASSES: Record<Exclude<AddressClass, 'public'>, fc.Arbitrary<Octets>> = {
  metadata: fc.oneof(inV4([169, 254, 0, 0], 16), fc.constant<Octets>([169, 254, 169, 254]), fc.constant<Octets>([100, 100, 100, 200])),
  loopback: inV4([127, 0, 0, 0], 8),
  private: fc.oneof(inV4([10, 0, 0, 0], 8), inV4([172, 16, 0, 0], 12), inV4([192, 168, 0, 0], 16), inV4([100, 64, 0, 0], 10)).filter(
    (o) => o.join('.') !== '100.100.100.200',
  ),
  non_unicast: fc.oneof(inV4([0, 0, 0, 0], 8), inV4([224, 0, 0, 0], 4), inV4([240, 0, 0, 0], 4)),
};
// First octets with no special range in them.
const PUBLIC_V4 = fc.tuple(fc.constantFrom(1, 8, 9, 23, 45, 93, 104, 151, 185, 199, 212), octet, octet, octet) as fc.Arbitrary<Octets>;

const value = (o: Octets) => ((o[0] << 24) | (o[1] << 16) | (o[2] << 8) | o[3]) >>> 0;
const hex16 = (n: number) => n.toString(16);
const part = (n: number, style: 'dec' | 'hex' | 'oct') => (style === 'dec' ? String(n) : style === 'hex' ? `0x${n.toString(16)}` : `0${n.toString(8)}`);
const style = fc.constantFrom<'dec' | 'hex' | 'oct'>('dec', 'hex', 'oct');

/** Every way a URL host can spell an IPv4 address (`embeddable`: also inside IPv6 forms). */
function v4Spellings(o: Octets, embeddable: boolean): fc.Arbitrary<string> {
  const dotted = o.join('.');
  const hi = hex16((o[0] << 8) | o[1]);
  const lo = hex16((o[2] << 8) | o[3]);
  const plain: fc.Arbitrary<string>[] = [
    fc.constant(dotted),
    fc.constant(`${dotted}.`),
    fc.constant(String(value(o))),
    fc.constant(`0x${value(o).toString(16)}`),
    fc.constant(`0${value(o).toString(8)}`),
    fc.tuple(style, style, style, style).map((s) => o.map((n, i) => part(n, s[i]!)).join('.')),
    fc.constant(`${o[0]}.${o[1]}.${(o[2] << 8) | o[3]}`),
    fc.constant(`${o[0]}.${(o[1] << 16) | (o[2] << 8) | o[3]}`),
    fc.constant(`[::ffff:${dotted}]`),
    fc.constant(`[::FFFF:${hi}:${lo}]`),
    fc.constant(`[0:0:0:0:0:ffff:${dotted}]`),
  ];
  const embedded: fc.Arbitrary<string>[] = [
    fc.constant(`[64:ff9b::${dotted}]`),
    fc.constant(`[64:ff9b::${hi}:${lo}]`),
    fc.constant(`[::ffff:0:${dotted}]`),
    fc.constant(`[::${dotted}]`),
  ];
  return fc.oneof(...plain, ...(embeddable ? embedded : []));
}

const hextet = fc.integer({ min: 0, max: 0xffff });
/** An IPv6 address whose first hextet is in [from, to], spelled in full with random case and padding. */
function v6In(from: number, to: number): fc.Arbitrary<string> {
  return fc
    .tuple(fc.integer({ min: from, max: to }), fc.array(hextet, { minLength: 7, maxLength: 7 }), fc.boolean(), fc.boolean())
    .map(([first, rest, upper, pad]) => {
      const text = [first, ...rest].map((h) => (pad ? h.toString(16).padStart(4, '0') : h.toString(16))).join(':');
      return `[${upper ? text.toUpperCase() : text}]`;
    });
}

const V6_CLASSES: Record<AddressClass, fc.Arbitrary<string>> = {
  metadata: fc.oneof(
    v6In(0xfe80, 0xfebf),
    fc.constantFrom('[fd00:ec2::254]', '[FD00:0EC2:0000:0000:0000:0000:0000:0254]', '[fd00:ec2:0:0:0:0:0:254]', '[fd00:ec2::0.0.2.84]'),
  ),
  loopback: fc.constantFrom('[::1]', '[0:0:0:0:0:0:0:1]', '[0000:0000:0000:0000:0000:0000:0000:0001]', '[::0.0.0.1]'),
  private: v6In(0xfc00, 0xfdff).filter((h) => !/^\[fd00:0?ec2:(0+:){4}0*254\]$/i.test(h)),
  non_unicast: fc.oneof(fc.constantFrom('[::]', '[0:0:0:0:0:0:0:0]'), v6In(0xff00, 0xffff)),
  public: v6In(0x2a00, 0x2aff),
};

/** Host spellings of an address of class `cls`. */
function hostsOf(cls: AddressClass): fc.Arbitrary<string> {
  const v4 = cls === 'public' ? PUBLIC_V4 : V4_CLASSES[cls];
  // ::0.0.0.1 is ::1: the IPv4-compatible form of 0.0.0.0/8 is not "this network" in IPv6.
  const fromV4 = v4.chain((o) => v4Spellings(o, cls !== 'non_unicast'));
  return fc.oneof(fromV4, V6_CLASSES[cls]);
}

const endpointWith = (host: string) =>
  fc
    .tuple(fc.constantFrom('http', 'https', 'HTTP', 'Https'), fc.option(fc.integer({ min: 1, max: 65535 })), fc.constantFrom('', '/', '/v1', '/openai/v1/'))
    .map(([scheme, port, path]) => `${scheme}://${host}${port === null ? '' : `:${port}`}${path}`);

const RUNS = { numRuns: 400 };

describe('endpointRefusal over every spelling of every address class', () => {
  it.each<AddressClass>(['metadata', 'non_unicast'])('refuses %s addresses whatever security.allow_private_endpoints says', (cls) => {
    fc.assert(
      fc.property(hostsOf(cls).chain(endpointWith), (endpoint) => {
        for (const policy of [DEV, PROD]) {
          const refusal = endpointRefusal(endpoint, policy);
          expect(refusal).toMatch(cls === 'metadata' ? /link-local or cloud metadata address: refused$/ : /not a unicast host address: refused$/);
        }
      }),
      RUNS,
    );
  });

  it.each<AddressClass>(['loopback', 'private'])('allows %s addresses only when security.allow_private_endpoints is true', (cls) => {
    fc.assert(
      fc.property(hostsOf(cls).chain(endpointWith), (endpoint) => {
        expect(endpointRefusal(endpoint, DEV)).toBeNull();
        expect(endpointRefusal(endpoint, PROD)).toMatch(new RegExp(`is a ${cls} address: refused unless security.allow_private_endpoints is true$`));
      }),
      RUNS,
    );
  });

  it('allows public addresses under either policy', () => {
    fc.assert(
      fc.property(hostsOf('public').chain(endpointWith), (endpoint) => {
        expect(endpointRefusal(endpoint, DEV)).toBeNull();
        expect(endpointRefusal(endpoint, PROD)).toBeNull();
      }),
      RUNS,
    );
  });

  it('refuses the metadata host names in any case, with trailing dots, and localhost names unless private is allowed', () => {
    const casing = (name: string) =>
      fc.array(fc.boolean(), { minLength: name.length, maxLength: name.length }).map((up) => [...name].map((c, i) => (up[i] ? c.toUpperCase() : c)).join(''));
    const dots = fc.integer({ min: 0, max: 2 }).map((n) => '.'.repeat(n));
    const metadataHost = fc.tuple(fc.constantFrom('metadata.google.internal', 'metadata.goog', 'metadata').chain(casing), dots).map(([n, d]) => n + d);
    fc.assert(
      fc.property(metadataHost.chain(endpointWith), (endpoint) => {
        expect(endpointRefusal(endpoint, DEV)).toMatch(/cloud metadata host: refused$/);
        expect(endpointRefusal(endpoint, PROD)).toMatch(/cloud metadata host: refused$/);
      }),
      RUNS,
    );
    const localHost = fc.tuple(fc.constantFrom('localhost', 'api.localhost', 'a.b.LOCALHOST'), dots).map(([n, d]) => n + d);
    fc.assert(
      fc.property(localHost.chain(endpointWith), (endpoint) => {
        expect(endpointRefusal(endpoint, DEV)).toBeNull();
        expect(endpointRefusal(endpoint, PROD)).toMatch(/is a loopback address: refused unless/);
      }),
      RUNS,
    );
    // A name that merely contains those words is an ordinary name.
    expect(endpointRefusal('https://metadata.example.com/v1', PROD)).toBeNull();
    expect(endpointRefusal('https://localhost.example.com/v1', PROD)).toBeNull();
  });
});

describe('endpointRefusal: scheme, query and fragment', () => {
  it('refuses every scheme but http and https', () => {
    for (const scheme of ['ftp', 'file', 'gopher', 'ws', 'wss', 'dict', 'redis', 'ldap', 'javascript', 'data', 'jar']) {
      expect(endpointRefusal(`${scheme}://api.example.com/v1`, DEV)).toMatch(/^must be http or https, not /);
    }
    for (const bad of ['', 'api.example.com/v1', '/v1', 'http://', 'https://exa mple.com']) {
      expect(endpointRefusal(bad, DEV)).toBe('must be an absolute http or https URL');
    }
  });

  it('refuses a "?" or "#" anywhere after the host, which would swallow the probe path', () => {
    const tail = fc.tuple(fc.string({ maxLength: 12 }), fc.constantFrom('?', '#', '?#', '#?'), fc.string({ maxLength: 12 }));
    fc.assert(
      fc.property(tail, ([before, mark, after]) => {
        const endpoint = `https://api.example.com/v1${encodeURI(before).replace(/[?#]/g, '')}${mark}${after}`;
        expect(endpointRefusal(endpoint, DEV)).toBe('must not have a query or fragment ("?" or "#"): the probe path is appended to it');
      }),
      RUNS,
    );
  });
});

describe('addressRefusal (what DNS resolved a name to)', () => {
  it('classifies resolved addresses as the URL check does', () => {
    expect(addressRefusal('169.254.169.254', DEV)).toMatch(/metadata/);
    expect(addressRefusal('::ffff:169.254.169.254', DEV)).toMatch(/metadata/);
    expect(addressRefusal('fd00:ec2::254', DEV)).toMatch(/metadata/);
    expect(addressRefusal('fe80::1', DEV)).toMatch(/metadata/);
    expect(addressRefusal('127.0.0.1', DEV)).toBeNull();
    expect(addressRefusal('127.0.0.1', PROD)).toMatch(/loopback/);
    expect(addressRefusal('10.1.2.3', PROD)).toMatch(/private/);
    expect(addressRefusal('::1', PROD)).toMatch(/loopback/);
    expect(addressRefusal('8.8.8.8', PROD)).toBeNull();
    expect(addressRefusal('not-an-ip', DEV)).toMatch(/not an IP address/);
    expect(classifyAddress('2606:4700::1111')).toBe('public');
  });
});
