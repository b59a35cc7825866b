/**
 * Which model endpoints the router may contact (its health checker probes them). A registry entry
 * must not turn the router into a proxy towards cloud metadata services or, in production, towards
 * the private network it runs in.
 *
 * Addresses are classified with Node's own parsers only: WHATWG URL parsing turns every IPv4
 * spelling (decimal `2852039166`, hex `0xa9.0xfe.0xa9.0xfe`, octal `0251.0376.0251.0376`, short
 * `127.1`) into dotted quads and IPv6 into its canonical form, and `net.BlockList` matches IPv4
 * rules against IPv4-mapped IPv6 addresses (`::ffff:169.254.169.254`) by itself. The IPv6 forms
 * that embed an IPv4 address another way (NAT64 `64:ff9b::/96`, IPv4-compatible `::/96`,
 * IPv4-translated `::ffff:0:0/96`) get explicit rules built from the same IPv4 ranges.
 */
import { BlockList, isIP } from 'node:net';

export interface EndpointPolicy {
  /** Loopback and private ranges allowed (`security.allow_private_endpoints`)? */
  allowPrivateEndpoints: boolean;
}

/** What an address is, as far as the policy cares. */
export type AddressClass = 'metadata' | 'loopback' | 'private' | 'non_unicast' | 'public';

type Subnet = readonly [address: string, prefix: number];

// Link-local (where AWS, Azure, GCP, OpenStack… serve instance metadata and credentials) and
// the metadata services on other addresses (AWS IPv6, Alibaba Cloud). Refused whatever the config.
const METADATA_V4: Subnet[] = [
  ['169.254.0.0', 16],
  ['100.100.100.200', 32],
];
const METADATA_V6: Subnet[] = [
  ['fe80::', 10],
  ['fd00:ec2::254', 128],
];
const LOOPBACK_V4: Subnet[] = [['127.0.0.0', 8]];
const LOOPBACK_V6: Subnet[] = [['::1', 128]];
// RFC 1918, carrier-grade NAT (RFC 6598) and IPv6 unique local addresses.
const PRIVATE_V4: Subnet[] = [
  ['10.0.0.0', 8],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['100.64.0.0', 10],
];
const PRIVATE_V6: Subnet[] = [['fc00::', 7]];
// Not a single host to talk to: "this network" (0.0.0.0 reaches the local host on Linux),
// multicast, reserved and broadcast.
const NON_UNICAST_V4: Subnet[] = [
  ['0.0.0.0', 8],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
];
const NON_UNICAST_V6: Subnet[] = [
  ['::', 128],
  ['ff00::', 8],
];

/** IPv6 prefixes that carry an IPv4 address in their last 32 bits (mixed notation `prefix` + `a.b.c.d`). */
const EMBEDDING_PREFIXES = ['64:ff9b::', '::', '::ffff:0:'];

function blockList(v4: Subnet[], v6: Subnet[]): BlockList {
  const list = new BlockList();
  for (const [address, prefix] of v4) {
    list.addSubnet(address, prefix, 'ipv4');
    for (const embedding of EMBEDDING_PREFIXES) list.addSubnet(`${embedding}${address}`, 96 + prefix, 'ipv6');
  }
  for (const [address, prefix] of v6) list.addSubnet(address, prefix, 'ipv6');
  return list;
}

// Checked in this order: `::1` lies inside the IPv4-compatible form of 0.0.0.0/8, and
// fd00:ec2::254 inside fc00::/7.
const CLASSES: readonly (readonly [AddressClass, BlockList])[] = [
  ['metadata', blockList(METADATA_V4, METADATA_V6)],
  ['loopback', blockList(LOOPBACK_V4, LOOPBACK_V6)],
  ['private', blockList(PRIVATE_V4, PRIVATE_V6)],
  ['non_unicast', blockList(NON_UNICAST_V4, NON_UNICAST_V6)],
];

/** Host names of metadata services (after lower-casing and dropping trailing dots). */
const METADATA_NAMES = new Set(['metadata.google.internal', 'metadata.goog', 'metadata']);

/** The class of an IP address written as `net.isIP` accepts it (no brackets); null if it is not one. */
export function classifyAddress(address: string): AddressClass | null {
  const version = isIP(address);
  if (version === 0) return null;
  const type = version === 4 ? 'ipv4' : 'ipv6';
  for (const [name, list] of CLASSES) if (list.check(address, type)) return name;
  return 'public';
}

/** Why an address class is refused under `policy`, or null when it is allowed. */
function classRefusal(cls: AddressClass, shown: string, policy: EndpointPolicy): string | null {
  switch (cls) {
    case 'metadata':
      return `${shown} is a link-local or cloud metadata address: refused`;
    case 'non_unicast':
      return `${shown} is not a unicast host address: refused`;
    case 'loopback':
    case 'private':
      return policy.allowPrivateEndpoints
        ? null
        : `${shown} is a ${cls} address: refused unless security.allow_private_endpoints is true`;
    case 'public':
      return null;
  }
}

/**
 * Why the router may not contact this resolved address (what DNS gave for an endpoint's name),
 * or null when it may.
 */
export function addressRefusal(address: string, policy: EndpointPolicy): string | null {
  const cls = classifyAddress(address);
  if (cls === null) return `${JSON.stringify(address)} is not an IP address`;
  return classRefusal(cls, address, policy);
}

/**
 * Why this endpoint (as stored on a model) may not be used, or null when it may: it must be an
 * absolute http(s) URL without a query or fragment (the probe appends `/models/{id}` to its
 * path, which a `?` or `#` would swallow), and its host must not be a refused address or name.
 * A name that merely resolves to a refused address passes here; the prober checks what it
 * resolves to before connecting.
 */
export function endpointRefusal(endpoint: string, policy: EndpointPolicy): string | null {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return 'must be an absolute http or https URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `must be http or https, not ${url.protocol.slice(0, -1)}`;
  // `search` and `hash` are empty for a bare trailing "?" or "#", which would still cut the path.
  if (endpoint.includes('?') || endpoint.includes('#')) {
    return 'must not have a query or fragment ("?" or "#"): the probe path is appended to it';
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const cls = classifyAddress(host);
  if (cls !== null) return classRefusal(cls, host, policy);
  // Trailing dots by a loop: /\.+$/ is tried from every dot of a run and so is quadratic in it
  // (80,000 dots: 15 s of blocked event loop).
  let end = host.length;
  while (end > 0 && host.charCodeAt(end - 1) === 0x2e) end--;
  const name = host.slice(0, end);
  if (METADATA_NAMES.has(name)) return `${name} is a cloud metadata host: refused`;
  // RFC 6761: every name under localhost is the local host.
  if (name === 'localhost' || name.endsWith('.localhost')) return classRefusal('loopback', name, policy);
  return null;
}
