/**
 * Section "gateway-steps": where a streamed gateway call's time to first byte goes, step by step.
 * The bench API runs with bench/lib/step-trace.ts loaded (timestamps from Node's and undici's
 * diagnostics channels, no change to the API's code); streamed requests go one at a time, as in
 * the `gateway` section's figure, and each step's median and p90 are reported with the client's
 * own send and first-byte times on the same clock.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { type ChildServer, PRODUCTION_V8_FLAG, startBenchApi, startBenchMock } from '../lib/child.js';
import { clientAuthorization } from '../lib/keys.js';
import { envNumber, fixed, percentile } from '../lib/stats.js';
import type { StepTimes } from '../lib/step-trace.js';
import type { Section, SectionResult } from '../lib/types.js';
import { MODEL_ID, PATH, registerModel, setMock, streamOneAtATime } from './gateway.js';

export const gatewayStepsSection: Section = {
  name: 'gateway-steps',
  title: 'A streamed gateway call, step by step (time to first byte, one request at a time)',
  usesDatabase: true,
  async run(ctx): Promise<SectionResult> {
    const count = Math.round(envNumber('BENCH_GATEWAY_STREAMS', 300));
    const warmup = Math.min(30, count);
    const dir = mkdtempSync(join(os.tmpdir(), 'model-router-steps-'));
    const traceFile = join(dir, 'steps.json');
    const servers: ChildServer[] = [];
    try {
      const mock = await startBenchMock(ctx.rootDir);
      servers.push(mock);
      // tsx first, so the trace (TypeScript) can be loaded; then the image's V8 flag.
      const api = await startBenchApi(ctx.rootDir, {
        name: 'api-steps',
        nodeArgs: ['--import', 'tsx', '--import', './bench/lib/step-trace.ts', PRODUCTION_V8_FLAG],
        env: { BENCH_STEP_TRACE: traceFile },
      });
      servers.push(api);
      await registerModel(api.ready.url, mock.ready.url);
      await setMock(mock.ready.url, { latency_ms: 20, tokens_per_second: 0 });
      const body = JSON.stringify({ model: MODEL_ID, messages: [{ role: 'user', content: 'Hello, how are you today?' }], max_tokens: 16, stream: true });
      ctx.log(`gateway-steps: ${count} streams after ${warmup} of warm-up`);
      const client = (await streamOneAtATime(`${api.ready.url}${PATH}`, body, clientAuthorization(), count + warmup)).slice(warmup);
      if (client.some((r) => r.status !== 200)) throw new Error('the gateway did not answer every stream with 200');
      await api.stop();
      servers.pop();
      const traced = (JSON.parse(readFileSync(traceFile, 'utf8')) as StepTimes[]).filter((r) => r.upstream_sent !== undefined).slice(-count);
      if (traced.length !== client.length) throw new Error(`traced ${traced.length} gateway calls for ${client.length} requests`);

      const steps: Array<[string, (i: number) => number]> = [
        ['client sends → the API has the request', (i) => traced[i]!.start - client[i]!.sent],
        ['→ upstream request created (middleware, body, auth, routing, request build)', (i) => traced[i]!.upstream_created! - traced[i]!.start],
        ['→ upstream request written', (i) => traced[i]!.upstream_sent! - traced[i]!.upstream_created!],
        ["→ provider's headers (the mock's 20 ms and its two hops)", (i) => traced[i]!.upstream_headers! - traced[i]!.upstream_sent!],
        ['→ first write to the client (translation, headers)', (i) => traced[i]!.first_write! - traced[i]!.upstream_headers!],
        ['→ the client has the first byte', (i) => client[i]!.firstByte - traced[i]!.first_write!],
        ['client sends → first byte (total)', (i) => client[i]!.firstByte - client[i]!.sent],
      ];
      const rows = steps.map(([name, of]) => {
        const sorted = client.map((_, i) => of(i)).sort((a, b) => a - b);
        return [name, fixed(percentile(sorted, 0.5), 3), fixed(percentile(sorted, 0.9), 3)];
      });
      return {
        tables: [{ title: `A streamed call through the gateway, ${count} requests one at a time (mock: whole answer after 20 ms)`, columns: ['step', 'p50 ms', 'p90 ms'], rows }],
        targets: [],
        notes: [
          'Times from diagnostics_channel in the API (http.server.request.start, undici:request:create, undici:client:sendHeaders, undici:request:headers) and its first response write, on the same clock as the client (performance.timeOrigin + now).',
          'The medians of the steps need not add up to the median of the total.',
        ],
        data: { requests: count, steps: Object.fromEntries(rows.map(([name, p50, p90]) => [name, { p50_ms: Number(p50), p90_ms: Number(p90) }])) },
      };
    } finally {
      for (const server of servers.reverse()) await server.stop().catch((error: unknown) => ctx.log(`gateway-steps: stop failed: ${String(error)}`));
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
