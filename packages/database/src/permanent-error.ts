/**
 * Postgres error classes no retry can fix, because the data is the problem: 22 data exception (a
 * value out of range, an invalid timestamp or text), 23 integrity constraint violation, 54 program
 * limit exceeded (an index key too large). Anything else — the connection lost, Postgres starting
 * up or shutting down (57P), a deadlock or serialization failure (40), a statement timeout (57014),
 * a Node network error — is transient: the batch is retried whole, never dead-lettered.
 */
const PERMANENT_SQLSTATE_CLASSES = new Set(['22', '23', '54']);

/** True for an error Postgres raised (it has a SQLSTATE and a severity) of a permanent class. */
export function isPermanentDataError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, severity } = error as { code?: unknown; severity?: unknown };
  return (
    typeof severity === 'string' &&
    typeof code === 'string' &&
    /^[0-9A-Z]{5}$/.test(code) &&
    PERMANENT_SQLSTATE_CLASSES.has(code.slice(0, 2))
  );
}

/** A refused write's reason for the dead-letter table: Postgres's message with its SQLSTATE. */
export function describeDataError(error: unknown): string {
  const { code, message } = error as { code?: unknown; message?: unknown };
  const text = typeof message === 'string' ? message : String(error);
  return typeof code === 'string' ? `postgres ${code}: ${text}` : text;
}
