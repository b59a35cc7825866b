import { isSpanContextValid, trace } from '@opentelemetry/api';
import winston from 'winston';

export type Logger = winston.Logger;

// Keys whose values must never reach a log line, wherever they appear in the metadata.
const REDACTED_KEYS = new Set(['prompt', 'authorization', 'api_key', 'admin_api_key', 'client_api_key', 'readonly_api_key', 'password']);

const redact = winston.format((info) => {
  for (const key of Object.keys(info)) {
    if (REDACTED_KEYS.has(key.toLowerCase())) info[key] = '[redacted]';
  }
  return info;
});

/** Renames winston's `message` to `msg` so every line has the same keys across services. */
const renameMessage = winston.format((info) => {
  const { message } = info;
  delete (info as Record<string, unknown>).message;
  (info as Record<string, unknown>).msg = message;
  return info;
});

/** `trace_id` and `span_id` of the active span, so a line can be found from its trace and back. */
const traceContext = winston.format((info) => {
  const span = trace.getActiveSpan();
  if (span) {
    const context = span.spanContext();
    if (isSpanContextValid(context)) {
      info.trace_id = context.traceId;
      info.span_id = context.spanId;
    }
  }
  return info;
});

export function createLogger(service: string, level = 'info'): Logger {
  return winston.createLogger({
    level,
    defaultMeta: { service },
    format: winston.format.combine(
      winston.format.errors({ stack: true }),
      redact(),
      traceContext(),
      winston.format.timestamp(),
      renameMessage(),
      winston.format.json(),
    ),
    transports: [new winston.transports.Console()],
  });
}
