/**
 * The operator page shows the dead-letter table: how many events were set aside, per consumer and
 * event, and the latest ones with their error — escaped, whatever the event held.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createPool, DeadLetterRepository, type Pool } from '@model-router/database';
import request from 'supertest';
import { ADMIN, type Harness, startHarness } from './harness.js';

let h: Harness;
let pool: Pool;

beforeAll(async () => {
  h = await startHarness();
  pool = createPool(h.env.databaseUrl, 2);
});
afterAll(async () => {
  await pool.end();
  await h.stop();
});

describe('operator page: dead letters', () => {
  it('counts them per consumer, lists the latest, stores each event once and escapes what it shows', async () => {
    const repository = new DeadLetterRepository(pool);
    const empty = await request(h.api.app).get('/admin/api/overview').set(ADMIN).expect(200);
    expect(empty.body.dead_letters).toEqual({ total: 0, by_consumer: [], latest: [] });

    const letters = [
      // What broke Postgres is stored anyway: JSON text keeps NUL and a lone surrogate escaped.
      { consumer: 'metric-aggregator', queue: 'metric-events', event_name: 'metric.recorded', job_id: '7', event: { event_id: 'e-1', key_id: 'default', user_id: 'a\u0000b\ud800' }, error: 'schema: user_id: must not contain NUL characters' },
      { consumer: 'budget-enforcer', queue: 'cost-events', event_name: 'cost.recorded', job_id: '9', event: { event_id: '<script>alert(1)</script>' }, error: 'postgres 22003: bigint out of range <b>' },
    ];
    expect(await repository.record(letters)).toBe(2);
    // The same events again (a retried job): nothing new.
    expect(await repository.record(letters)).toBe(0);

    const { body } = await request(h.api.app).get('/admin/api/overview').set(ADMIN).expect(200);
    expect(body.dead_letters.total).toBe(2);
    expect(body.dead_letters.by_consumer).toEqual([
      expect.objectContaining({ consumer: 'budget-enforcer', event_name: 'cost.recorded', count: 1 }),
      expect.objectContaining({ consumer: 'metric-aggregator', event_name: 'metric.recorded', count: 1 }),
    ]);
    expect(body.dead_letters.latest).toHaveLength(2);
    expect(body.dead_letters.latest).toContainEqual(
      expect.objectContaining({ consumer: 'metric-aggregator', queue: 'metric-events', job_id: '7', event_id: 'e-1', key_id: 'default', event_preview: expect.stringContaining('\\u0000') }),
    );

    const page = (await request(h.api.app).get('/admin').set(ADMIN).expect(200)).text;
    // The server-rendered part (the page's script holds the same view's source too).
    const html = page.slice(page.indexOf('<main id="overview">'), page.indexOf('</main>'));
    expect(html).toContain('data-testid="dead-letters"');
    expect(html.match(/data-testid="dead-letter-row"/g)).toHaveLength(2);
    expect(html).not.toContain('<script>alert(1)</script>');
    expect(html).toContain('&#60;script&#62;alert(1)&#60;/script&#62;');
  });
});
