import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { initTelemetry, type Telemetry } from '@model-router/telemetry';
import { inMemorySpans } from '@model-router/telemetry/testing';
import { SpanKind, trace } from '@opentelemetry/api';
import { endProducerSpan, startProducerSpan, traceparentSchema, withConsumerSpan } from '../src/tracing.js';

const { exporter, processor } = inMemorySpans();
// Spans reach the exporter once the resource's attributes are known: flush before reading.
const finishedSpans = async () => {
  await processor.forceFlush();
  return exporter.getFinishedSpans();
};
let telemetry: Telemetry;
beforeAll(async () => {
  telemetry = await initTelemetry('queue-test', { env: {}, spanProcessors: [processor] });
});
afterAll(async () => {
  await telemetry.shutdown();
});

const job = (traceparents: string[] | undefined) => ({
  queue: 'metric-events',
  jobId: '42',
  eventName: 'metric.recorded',
  eventCount: traceparents?.length ?? 1,
  attempt: 1,
  consumer: 'metric-aggregator',
  traceparents,
});

describe('trace context through a job', () => {
  it('publishes outside a traced operation without a span or a traceparent', () => {
    expect(startProducerSpan('metric-events', 'metric.recorded', 1)).toBeNull();
  });

  it('a producer span inside a request; the consumer span is its child and links the batch\'s other publishers', async () => {
    exporter.reset();
    const tracer = trace.getTracer('test');
    const publish = () =>
      tracer.startActiveSpan('request', (request) => {
        const producer = startProducerSpan('metric-events', 'metric.recorded', 1)!;
        endProducerSpan(producer);
        request.end();
        return producer.traceparent;
      });
    const [first, second] = [publish(), publish()];
    expect(traceparentSchema.safeParse(first).success).toBe(true);

    await withConsumerSpan(job([first, second]), async () => {
      tracer.startSpan('query').end();
    });
    const spans = await finishedSpans();
    const consumer = spans.find((s) => s.kind === SpanKind.CONSUMER)!;
    const producers = spans.filter((s) => s.kind === SpanKind.PRODUCER);
    expect(producers).toHaveLength(2);
    expect(consumer.name).toBe('process metric-events');
    expect(consumer.spanContext().traceId).toBe(producers[0]!.spanContext().traceId);
    expect(consumer.parentSpanContext?.spanId).toBe(producers[0]!.spanContext().spanId);
    expect(consumer.links.map((l) => l.context.spanId)).toEqual([producers[1]!.spanContext().spanId]);
    expect(consumer.attributes).toMatchObject({ 'messaging.batch.message_count': 2, 'messaging.consumer.group.name': 'metric-aggregator' });
    const query = spans.find((s) => s.name === 'query')!;
    expect(query.parentSpanContext?.spanId).toBe(consumer.spanContext().spanId);
  });

  it('a job without trace context gets a root consumer span; a failing handler marks it as an error', async () => {
    exporter.reset();
    await expect(withConsumerSpan(job(undefined), async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    const [consumer] = await finishedSpans();
    expect(consumer!.parentSpanContext).toBeUndefined();
    expect(consumer!.status.code).toBe(2);
  });
});
