import type { RequestHandler } from 'express';

const UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** `server.body_limit` ('1mb', '512kb', '100000') in bytes, as body-parser reads it; null when not of that form. */
export function bodyLimitBytes(limit: string): number | null {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$/i.exec(limit);
  if (!match) return null;
  return Math.floor(Number(match[1]) * UNITS[(match[2] ?? 'b').toLowerCase()]!);
}

/** What body-parser throws for a body that is not JSON (its `type` is what the error handlers read). */
class JsonParseError extends Error {
  readonly type = 'entity.parse.failed';
  readonly status = 400;
  readonly statusCode = 400;
  readonly expose = true;
}

/** What body-parser throws when the client goes away before the body is complete. */
class RequestAbortedError extends Error {
  readonly type = 'request.aborted';
  readonly status = 400;
  readonly statusCode = 400;
  readonly expose = true;
}

/** Parses like body-parser's strict JSON (a leading BOM dropped; an object or array only). */
function parseStrict(text: string): unknown {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let i = 0;
  while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  if (text[i] !== '{' && text[i] !== '[') throw new JsonParseError('request body is not a JSON object or array');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new JsonParseError((error as Error).message);
  }
}

/**
 * The JSON body of the gateway's hot route. The common request — `Content-Type: application/json`
 * (optionally `; charset=utf-8`), a Content-Length within the limit, no Content-Encoding — is
 * read and parsed here with none of body-parser's per-request work (type matching, charset and
 * encoding handling, stream plumbing); any other request goes to `fallback` (express.json with the
 * same limit), so every edge case keeps body-parser's behaviour and errors.
 */
export function jsonBody(limit: string, fallback: RequestHandler): RequestHandler {
  const maxBytes = bodyLimitBytes(limit) ?? 0;
  return (req, res, next) => {
    const headers = req.headers;
    const type = headers['content-type'];
    const length = headers['content-length'];
    if (
      (type !== 'application/json' && type !== 'application/json; charset=utf-8') ||
      length === undefined ||
      headers['content-encoding'] !== undefined ||
      headers['transfer-encoding'] !== undefined
    ) {
      fallback(req, res, next);
      return;
    }
    const size = Number(length);
    if (!(size > 0 && size <= maxBytes)) {
      fallback(req, res, next);
      return;
    }
    const chunks: Buffer[] = [];
    let done = false;
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.once('end', () => {
      if (done) return;
      done = true;
      let body: unknown;
      try {
        body = parseStrict((chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).toString('utf8'));
      } catch (error) {
        next(error);
        return;
      }
      req.body = body;
      next();
    });
    // The connection closed before the whole body came (a `close` before `end`, or an error).
    const aborted = () => {
      if (done) return;
      done = true;
      next(new RequestAbortedError('request aborted'));
    };
    req.once('error', aborted);
    req.once('close', aborted);
  };
}
