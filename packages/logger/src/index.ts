import { isSpanContextValid, trace } from '@opentelemetry/api';
import winston from 'winston';
import { REDACTED_KEYS, toLoggable } from './error-serializer.js';

export { redactText, toLoggable } from './error-serializer.js';

export type Logger = winston.Logger;

/**
 * Secrets redacted at any depth, and every value made JSON-safe: an Error under `err` (or nested
 * anywhere) keeps its name, message, code, stack and cause instead of printing as `{}`.
 */
const redactAndSerialize = winston.format((info) => {
  const record = info as Record<string, unknown>;
  // `logger.error(err)` or `logger.error(err, meta)`: the error's own fields (code, cause, errors)
  // go on the line; winston's errors format below keeps its message and stack.
  if (info instanceof Error) {
    const { message: _message, stack: _stack, ...fields } = toLoggable(info) as Record<string, unknown>;
    for (const [key, value] of Object.entries(fields)) if (!(key in record) || key === 'cause' || key === 'errors') record[key] = value;
    return info;
  }
  for (const key of Object.keys(record)) {
    if (key === 'level') continue;
    if (REDACTED_KEYS.has(key.toLowerCase())) record[key] = '[redacted]';
    else if (key === 'message' && typeof record.message !== 'string') {
      // An error passed as the message: its text is the line's msg, the whole error goes under `err`.
      const loggable = toLoggable(record.message);
      if (loggable && typeof loggable === 'object' && typeof (loggable as { message?: unknown }).message === 'string') {
        record.message = (loggable as { message: string }).message;
        record.err ??= loggable;
      } else record.message = typeof loggable === 'string' ? loggable : (JSON.stringify(loggable) ?? String(loggable));
    } else record[key] = toLoggable(record[key]);
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

/** The format of every line (exported so tests can render a line without a transport). */
export function createLogFormat(): winston.Logform.Format {
  return winston.format.combine(
    redactAndSerialize(),
    winston.format.errors({ stack: true }),
    traceContext(),
    winston.format.timestamp(),
    renameMessage(),
    winston.format.json(),
  );
}

export function createLogger(service: string, level = 'info'): Logger {
  return winston.createLogger({
    level,
    defaultMeta: { service },
    format: createLogFormat(),
    transports: [new winston.transports.Console()],
  });
}
