import winston from 'winston';

export type Logger = winston.Logger;

// Keys whose values must never reach a log line, wherever they appear in the metadata.
const REDACTED_KEYS = new Set(['prompt', 'authorization', 'api_key', 'admin_api_key', 'client_api_key', 'password']);

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

export function createLogger(service: string, level = 'info'): Logger {
  return winston.createLogger({
    level,
    defaultMeta: { service },
    format: winston.format.combine(
      winston.format.errors({ stack: true }),
      redact(),
      winston.format.timestamp(),
      renameMessage(),
      winston.format.json(),
    ),
    transports: [new winston.transports.Console()],
  });
}
