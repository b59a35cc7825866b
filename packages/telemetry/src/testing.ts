/** For tests: record this process's spans in memory (`initTelemetry(name, { spanProcessors })`). */
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';

export { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor };

export function inMemorySpans(): { exporter: InMemorySpanExporter; processor: SimpleSpanProcessor } {
  const exporter = new InMemorySpanExporter();
  return { exporter, processor: new SimpleSpanProcessor({ exporter }) };
}
