/**
 * Start-up refuses a worker service whose handlers do not match the job catalog, for both
 * transports: a catalogued BullMQ event or pg-boss job of the service without a handler, one with
 * two handlers, and a handler for another service's job all stop it before it takes any job.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  BOSS_JOB_CATALOG,
  BOSS_JOB_NAMES,
  type BossJobHandler,
  bossHandler,
  bossJobsConsumedBy,
  type ConsumerService,
  checkBossHandlers,
  checkHandlers,
  EVENT_NAMES,
  type EventHandler,
  eventsConsumedBy,
  HandlerRegistrationError,
  handler,
  type JobBoss,
  startBossWorkers,
} from '../src/index.js';

const SERVICES: ConsumerService[] = ['metric-aggregator', 'health-checker', 'cache-invalidator', 'budget-enforcer'];
const eventHandlersOf = (service: ConsumerService): EventHandler[] => eventsConsumedBy(service).map((name) => handler({ name, handle: async () => undefined }));
const jobHandlersOf = (service: ConsumerService): BossJobHandler[] => bossJobsConsumedBy(service).map((name) => bossHandler({ name, handle: async () => undefined }));

describe('the job catalog', () => {
  it('gives every pg-boss job a consumer, its own queue, and at least one try', () => {
    const queues = BOSS_JOB_NAMES.map((name) => BOSS_JOB_CATALOG[name].queue);
    expect(new Set(queues).size).toBe(queues.length);
    for (const name of BOSS_JOB_NAMES) {
      expect(SERVICES).toContain(BOSS_JOB_CATALOG[name].consumer);
      expect(BOSS_JOB_CATALOG[name].attempts).toBeGreaterThanOrEqual(1);
    }
    // Every pg-boss job and BullMQ event belongs to exactly one service.
    expect(SERVICES.flatMap(bossJobsConsumedBy).sort()).toEqual([...BOSS_JOB_NAMES].sort());
    expect(SERVICES.flatMap(eventsConsumedBy).sort()).toEqual([...EVENT_NAMES].sort());
  });
});

describe('handler registration', () => {
  it('accepts exactly one handler per job of the service, of either kind', () => {
    for (const service of SERVICES) {
      expect(() => checkHandlers(service, eventHandlersOf(service))).not.toThrow();
      expect(() => checkBossHandlers(service, jobHandlersOf(service))).not.toThrow();
    }
  });

  it('refuses a job without a handler, a job with two, and a handler for another service', () => {
    const cases = fc.record({
      service: fc.constantFrom(...SERVICES.filter((s) => eventsConsumedBy(s).length > 0 && bossJobsConsumedBy(s).length > 0)),
      fault: fc.constantFrom('missing', 'double', 'foreign'),
      kind: fc.constantFrom('event', 'job'),
      pick: fc.nat(),
    });
    fc.assert(
      fc.property(cases, ({ service, fault, kind, pick }) => {
        const own: { name: string }[] = kind === 'event' ? eventHandlersOf(service) : jobHandlersOf(service);
        const others: { name: string }[] = SERVICES.filter((s) => s !== service).flatMap((s): { name: string }[] => (kind === 'event' ? eventHandlersOf(s) : jobHandlersOf(s)));
        const chosen = own[pick % own.length]!;
        const handlers =
          fault === 'missing'
            ? own.filter((h) => h !== chosen)
            : fault === 'double'
              ? [...own, chosen]
              : [...own, others[pick % others.length]!];
        const check = () => (kind === 'event' ? checkHandlers(service, handlers as never) : checkBossHandlers(service, handlers as never));
        const expected = { missing: /has no handler/, double: /has two handlers/, foreign: /is not consumed by/ }[fault];
        expect(check).toThrow(HandlerRegistrationError);
        expect(check).toThrow(expected);
      }),
    );
  });

  it('stops a pg-boss service before it schedules or works anything', async () => {
    let calls = 0;
    const boss = new Proxy({}, { get: () => () => ++calls }) as unknown as JobBoss;
    const handlers = jobHandlersOf('budget-enforcer').slice(1);
    await expect(startBossWorkers(boss, 'budget-enforcer', handlers)).rejects.toThrow(HandlerRegistrationError);
    expect(calls).toBe(0);
  });
});
