/**
 * Turns whatever a log call carries into plain JSON-safe data. An Error's name, message, stack,
 * code and cause are own non-enumerable (or inherited) properties, so JSON.stringify writes `{}`
 * for them: a failed start logged as `{"err":{}}` said nothing. Here every error-like value, at any
 * key and depth, becomes `{ name, message, code, stack, cause, errors, ...own fields }` (pg's
 * SQLSTATE `code`, `detail`, `constraint`; node's errno `code`, `syscall`, `address`), and secrets
 * are redacted wherever they are. It never throws: a hostile getter or proxy becomes a marker.
 */

/** Keys whose values must never reach a log line, at any depth of the metadata. */
export const REDACTED_KEYS = new Set(['prompt', 'authorization', 'api_key', 'admin_api_key', 'client_api_key', 'readonly_api_key', 'password', 'secret']);

const MAX_DEPTH = 24;
const MAX_ENTRIES = 100;
const MAX_STRING = 16_384;

/** Fields an error may inherit from its prototype (getters) or hold non-enumerably. */
const ERROR_FIELDS = ['name', 'message', 'code', 'errno', 'syscall', 'address', 'port', 'path', 'severity', 'detail', 'hint', 'schema', 'table', 'column', 'constraint', 'routine', 'stack', 'cause', 'errors'];

/**
 * Credentials inside text: `scheme://user:password@`, `Bearer <token>` and API key secrets
 * (`mr-…`, wherever a client put one: a URL path, a query, a body field).
 */
export function redactText(text: string): string {
  const clipped = text.length > MAX_STRING ? `${text.slice(0, MAX_STRING)}…[${text.length - MAX_STRING} more chars]` : text;
  return clipped
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s@/]*@/gi, '$1[redacted]@')
    .replace(/\b(bearer\s+)[^\s"',]+/gi, '$1[redacted]')
    .replace(/\bmr-[A-Za-z0-9_-]{16,}/g, 'mr-[redacted]');
}

function isErrorLike(value: object): boolean {
  if (value instanceof Error) return true;
  // Errors from another realm or library (pg-protocol, pg-boss wrappers) may not be instances.
  try {
    return Object.prototype.toString.call(value) === '[object Error]' || (typeof (value as { message?: unknown }).message === 'string' && typeof (value as { stack?: unknown }).stack === 'string');
  } catch {
    return false;
  }
}

function read(value: object, key: PropertyKey): unknown {
  try {
    return (value as Record<PropertyKey, unknown>)[key];
  } catch (error) {
    return `[unreadable: ${safeString(error)}]`;
  }
}

function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    return '[unprintable]';
  }
}

function ownKeys(value: object): string[] {
  try {
    return Object.getOwnPropertyNames(value);
  } catch {
    return [];
  }
}

function serializeError(error: object, ancestors: object[], depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const keys = [...new Set([...ERROR_FIELDS, ...ownKeys(error)])];
  for (const key of keys) {
    const field = read(error, key);
    if (field === undefined) continue;
    out[key] = REDACTED_KEYS.has(key.toLowerCase()) ? '[redacted]' : toLoggable(field, ancestors, depth + 1);
    if (Object.keys(out).length >= MAX_ENTRIES) break;
  }
  if (typeof out.name !== 'string') out.name = safeString(read(read(error, 'constructor') as object ?? {}, 'name') ?? 'Error');
  if (typeof out.message !== 'string') out.message = out.message === undefined ? '' : safeString(out.message);
  return out;
}

/** A JSON-safe copy of `value`: errors expanded, secrets redacted, cycles and depth cut. */
export function toLoggable(value: unknown, ancestors: object[] = [], depth = 0): unknown {
  try {
    if (typeof value === 'string') return redactText(value);
    if (typeof value === 'bigint') return value.toString();
    if (typeof value === 'symbol') return value.toString();
    if (typeof value === 'function') return `[function ${value.name || 'anonymous'}]`;
    if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
    if (value === null || typeof value !== 'object') return value;
    if (ancestors.includes(value)) return '[circular]';
    if (depth >= MAX_DEPTH) return '[too deep]';
    if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
    if (ArrayBuffer.isView(value)) return `[${value.constructor.name} ${value.byteLength} bytes]`;
    const path = [...ancestors, value];
    if (isErrorLike(value)) return serializeError(value, path, depth);
    if (Array.isArray(value)) {
      const items = value.slice(0, MAX_ENTRIES).map((item) => toLoggable(item, path, depth + 1));
      if (value.length > MAX_ENTRIES) items.push(`[${value.length - MAX_ENTRIES} more]`);
      return items;
    }
    if (value instanceof Map) return toLoggable(Object.fromEntries([...value].slice(0, MAX_ENTRIES).map(([k, v]) => [safeString(k), v])), ancestors, depth);
    if (value instanceof Set) return toLoggable([...value], ancestors, depth);
    const out: Record<string, unknown> = {};
    // Own non-enumerable properties too: some libraries hide what went wrong in them.
    for (const key of ownKeys(value).slice(0, MAX_ENTRIES)) {
      out[key] = REDACTED_KEYS.has(key.toLowerCase()) ? '[redacted]' : toLoggable(read(value, key), path, depth + 1);
    }
    return out;
  } catch (error) {
    return `[unserializable: ${safeString(error instanceof Error ? error.message : error)}]`;
  }
}
