import { context, type Link, propagation, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { tracingEnabled } from '@model-router/telemetry';
import { z } from 'zod';

/**
 * W3C trace context across the queues. A job carries the `traceparent` of every traced publish
 * whose events ride in it (group commit puts many requests' events in one job), under the payload's
 * optional `trace` key. The worker's CONSUMER span is the child of the first and links the others,
 * and the handler (its database writes included) runs inside it. With tracing off nothing is
 * added to the payload and no span is made on the publishing side.
 */

const tracer = trace.getTracer('@model-router/queue');

/** `version-traceid-spanid-flags`, lower-case hex (W3C Trace Context, level 1). */
export const traceparentSchema = z.string().regex(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/, 'must be a W3C traceparent');

// Spans have at most 128 links by default; the rest would be dropped anyway.
const MAX_LINKS = 128;

export interface ProducerTrace {
  span: Span;
  traceparent: string;
}

/**
 * A PRODUCER span for publishing `count` events, when the caller is inside a recorded span (an HTTP
 * request being traced); null otherwise. With tracing off it costs one boolean check.
 */
/** Would `startProducerSpan` start a span here (tracing on, inside a recorded span)? */
export function producerSpanWanted(): boolean {
  return tracingEnabled() && trace.getActiveSpan()?.isRecording() === true;
}

export function startProducerSpan(queue: string, eventName: string, count: number): ProducerTrace | null {
  if (!tracingEnabled()) return null;
  const parent = trace.getActiveSpan();
  if (!parent?.isRecording()) return null;
  const span = tracer.startSpan(`send ${queue}`, {
    kind: SpanKind.PRODUCER,
    attributes: {
      'messaging.system': 'bullmq',
      'messaging.destination.name': queue,
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'send',
      'messaging.batch.message_count': count,
      'model_router.event.name': eventName,
    },
  });
  const carrier: Record<string, string> = {};
  propagation.inject(trace.setSpan(context.active(), span), carrier);
  if (!carrier.traceparent) {
    span.end();
    return null;
  }
  return { span, traceparent: carrier.traceparent };
}

export function endProducerSpan(producer: ProducerTrace, error?: Error): void {
  if (error) {
    producer.span.recordException(error);
    producer.span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
  }
  producer.span.end();
}

export interface ConsumedJob {
  queue: string;
  jobId: string;
  eventName: string;
  eventCount: number;
  attempt: number;
  consumer: string;
  traceparents: readonly string[] | undefined;
}

/** Runs `handle` inside a CONSUMER span parented to the job's first traceparent and linked to the rest. */
export async function withConsumerSpan<T>(job: ConsumedJob, handle: () => Promise<T>): Promise<T> {
  if (!tracingEnabled()) return handle();
  const contexts = (job.traceparents ?? []).map((traceparent) => propagation.extract(ROOT_CONTEXT, { traceparent }));
  const parent = contexts[0] ?? ROOT_CONTEXT;
  const links: Link[] = [];
  for (const linked of contexts.slice(1, MAX_LINKS + 1)) {
    const spanContext = trace.getSpanContext(linked);
    if (spanContext) links.push({ context: spanContext });
  }
  const span = tracer.startSpan(
    `process ${job.queue}`,
    {
      kind: SpanKind.CONSUMER,
      links,
      attributes: {
        'messaging.system': 'bullmq',
        'messaging.destination.name': job.queue,
        'messaging.operation.type': 'process',
        'messaging.operation.name': 'process',
        'messaging.message.id': job.jobId,
        'messaging.batch.message_count': job.eventCount,
        'messaging.consumer.group.name': job.consumer,
        'model_router.event.name': job.eventName,
        'model_router.job.attempt': job.attempt,
      },
    },
    parent,
  );
  // Not sampled: run the handler as it is.
  if (!span.isRecording()) return handle();
  try {
    return await context.with(trace.setSpan(parent, span), handle);
  } catch (error) {
    const err = error instanceof Error ? error : new Error(String(error));
    span.recordException(err);
    span.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
    throw error;
  } finally {
    span.end();
  }
}
