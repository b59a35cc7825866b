import { lookup as dnsLookup } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { performance } from 'node:perf_hooks';
import { addressRefusal, type EndpointPolicy, endpointRefusal, type Model } from '@model-router/domain';

export const PROBE_OUTCOMES = ['ok', 'error', 'timeout', 'unreachable', 'refused'] as const;
export type ProbeOutcome = (typeof PROBE_OUTCOMES)[number];

export interface ProbeResult {
  /**
   * `ok`: the endpoint answered 2xx, or 401/403 (it is up and wants credentials: the probe sends
   * none, and real providers refuse anonymous calls, which must not open their circuits);
   * `error`: any other status, redirects included (they are not followed); `timeout`: no answer
   * in time; `unreachable`: no connection; `refused`: the endpoint, or an address its name
   * resolves to, is one the policy refuses, so nothing was sent.
   */
  outcome: ProbeOutcome;
  latency_ms: number;
  status: number | null;
  /** Why a `refused` probe was not sent. */
  refusal?: string;
}

/**
 * The OpenAI-style per-model endpoint: `GET {endpoint}/models/{id}`. Each segment of the id is
 * encoded, so ids such as "meta-llama/Llama-3.1-8B" keep their slash. Built on the parsed URL, so
 * nothing in the endpoint can move the appended path into a query or fragment.
 */
export function probeUrl(endpoint: string, modelId: string): string {
  const url = new URL(endpoint);
  url.search = '';
  url.hash = '';
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/models/${modelId.split('/').map(encodeURIComponent).join('/')}`;
  return url.toString();
}

/** The endpoint is up: it answered, or it refused an anonymous caller (401, 403). */
function answered(status: number): boolean {
  return (status >= 200 && status < 300) || status === 401 || status === 403;
}

/** An address refused after DNS: tells `refused` apart from an unreachable endpoint. */
class RefusedAddressError extends Error {
  override name = 'RefusedAddressError';
}

/**
 * A `lookup` for the socket: resolves as usual, then refuses the connection if any address the
 * name resolves to is refused, so the address that is checked is the one connected to (no second
 * resolution a rebinding DNS server could answer differently).
 */
export function checkedLookup(policy: EndpointPolicy, resolve: LookupFunction = dnsLookup as LookupFunction): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, options, (error, address, family) => {
      if (error) return callback(error, address, family);
      const addresses = Array.isArray(address) ? address.map((a) => a.address) : [address];
      for (const resolved of addresses) {
        const refusal = addressRefusal(resolved, policy);
        if (refusal) {
          return callback(Object.assign(new RefusedAddressError(`${hostname} resolves to ${refusal}`), { code: 'EREFUSED_ADDRESS' }), address, family);
        }
      }
      callback(null, address, family);
    });
  };
}

export interface ProbeOptions {
  timeoutMs: number;
  policy: EndpointPolicy;
  /** Name resolution (tests give names of their own); default the system resolver. */
  resolve?: LookupFunction;
  /**
   * For tests that need no endpoint at all: answers the probe instead of HTTP. The endpoint
   * policy is applied first all the same; name resolution is the fake's business.
   */
  fetch?: typeof fetch;
}

/**
 * GET `url` and resolve with the answer's status. node:http rather than fetch: it takes the
 * `lookup` that checks the resolved address, and it never follows redirects.
 */
function requestStatus(url: URL, options: ProbeOptions, signal: AbortSignal): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const request = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, {
      method: 'GET',
      headers: { accept: 'application/json' },
      lookup: checkedLookup(options.policy, options.resolve),
      // A connection of its own per probe: a pooled socket would skip the lookup, and with it
      // the check of the address (probes are seconds apart, reuse saves little).
      agent: false,
      signal,
    });
    request.once('response', (res: IncomingMessage) => {
      // The status is the answer; the body is drained but not waited for, and the timeout's
      // abort cuts one that never ends.
      res.resume();
      res.on('error', () => undefined);
      resolve(res.statusCode ?? 0);
    });
    request.on('error', reject);
    request.end();
  });
}

/** Probes one model's endpoint once; never throws. Redirects are answers (`error`), never followed. */
export async function probeModel(model: Pick<Model, 'id'> & { endpoint: string }, options: ProbeOptions): Promise<ProbeResult> {
  const started = performance.now();
  const refusal = endpointRefusal(model.endpoint, options.policy);
  if (refusal) return { outcome: 'refused', latency_ms: 0, status: null, refusal };
  const url = new URL(probeUrl(model.endpoint, model.id));
  const signal = AbortSignal.timeout(options.timeoutMs);
  try {
    const status = options.fetch
      ? (await options.fetch(url, { headers: { accept: 'application/json' }, redirect: 'manual', signal })).status
      : await requestStatus(url, options, signal);
    return { outcome: answered(status) ? 'ok' : 'error', latency_ms: performance.now() - started, status };
  } catch (error) {
    const latency_ms = performance.now() - started;
    if (error instanceof RefusedAddressError) return { outcome: 'refused', latency_ms, status: null, refusal: error.message };
    return { outcome: signal.aborted ? 'timeout' : 'unreachable', latency_ms, status: null };
  }
}

/** Runs `task` over `items`, at most `limit` at a time; resolves when all settled. */
export async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<PromiseSettledResult<void>[]> {
  const results: PromiseSettledResult<void>[] = new Array(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      try {
        await task(items[i]!);
        results[i] = { status: 'fulfilled', value: undefined };
      } catch (reason) {
        results[i] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}
