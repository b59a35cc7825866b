/**
 * The catalog's "storable" rules (packages/queue/src/events.ts) against real Postgres: any id they
 * accept is stored and read back unchanged, also three at once in one index key; any timestamp they
 * accept is the same instant in Postgres as in JS. Generated strings include every UTF-16 code unit
 * (NUL and lone surrogates too), so the rules are checked as a class, not by example.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createPool, type Pool } from '@model-router/database';
import { storableId } from '@model-router/domain';
import { storableTimestamp } from '@model-router/queue';
import { createTestEnv, type TestEnv } from '@model-router/tests/support';
import fc from 'fast-check';

let env: TestEnv;
let pool: Pool;

beforeAll(async () => {
  env = await createTestEnv();
  pool = createPool(env.databaseUrl, 2);
  await pool.query('CREATE TABLE storable_ids (a text, b text, c text, PRIMARY KEY (a, b, c))');
});
afterAll(async () => {
  await pool?.end();
  await env?.cleanup();
});

const anyString = fc.oneof(
  fc.string({ minLength: 1, maxLength: 256, unit: 'binary' }),
  fc.string({ minLength: 1, maxLength: 256, unit: 'grapheme' }),
  fc.string({ minLength: 1, maxLength: 256, unit: fc.constantFrom('😀', '€', 'é', 'a', '\u0000', '\ud800', '\udc00') }),
);

describe('storable values', () => {
  it('every id the schema accepts is stored unchanged, three in one index key', async () => {
    let accepted = 0;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(fc.tuple(anyString, anyString, anyString), async (ids) => {
        if (!ids.every((id) => storableId.safeParse(id).success)) {
          refused++;
          return;
        }
        accepted++;
        const { rows } = await pool.query('INSERT INTO storable_ids VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING a, b, c', ids);
        const back = rows[0] ?? (await pool.query('SELECT a, b, c FROM storable_ids WHERE a = $1 AND b = $2 AND c = $3', ids)).rows[0];
        expect([back.a, back.b, back.c]).toEqual(ids);
      }),
      { numRuns: 400, seed: 77 },
    );
    expect(accepted).toBeGreaterThan(50);
    expect(refused).toBeGreaterThan(50);
  });

  it('every timestamp the schema accepts is the same instant in Postgres', async () => {
    const offset = fc.oneof(
      fc.constant('Z'),
      fc.tuple(fc.constantFrom('+', '-'), fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 })).map(
        ([sign, h, m]) => `${sign}${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`,
      ),
    );
    const iso = fc
      .tuple(fc.integer({ min: 0, max: 9999 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 31 }), fc.integer({ min: 0, max: 86_399_999 }), offset)
      .map(([y, mo, d, ms, off]) => {
        const p = (n: number, w = 2) => String(n).padStart(w, '0');
        const t = `${p(Math.floor(ms / 3_600_000))}:${p(Math.floor(ms / 60_000) % 60)}:${p(Math.floor(ms / 1000) % 60)}.${p(ms % 1000, 3)}`;
        return `${p(y, 4)}-${p(mo)}-${p(d)}T${t}${off}`;
      });
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(iso, async (value) => {
        if (!storableTimestamp.safeParse(value).success) return;
        accepted++;
        const { rows } = await pool.query(`SELECT (extract(epoch FROM $1::timestamptz) * 1000)::float8 AS ms`, [value]);
        expect(rows[0].ms).toBe(Date.parse(value));
      }),
      { numRuns: 600, seed: 78 },
    );
    expect(accepted).toBeGreaterThan(100);
  });
});
