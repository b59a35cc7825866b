/**
 * The API key rate limiter on a Redis Cluster of the test's own (3 masters): each key's window is
 * one hash under the key's hash tag, so its script runs in one slot whichever master holds it
 * (a script touching keys of two slots fails with CROSSSLOT). Keys spread over every master, and
 * the limits stay exact under concurrency from two clients.
 */
import { describe, expect, it } from '@jest/globals';
import { Cluster, redisKeys } from '@model-router/redis';
import { KeyRateLimiter } from '../../services/api/src/keys/key-rate-limiter.js';
import { useOwnRedisCluster } from '../support/own-redis-cluster.js';

const PREFIX = 'mrclusterlimits';
const { connect } = useOwnRedisCluster({ masters: 3, replicasPerMaster: 0 });

describe('KeyRateLimiter on a Redis Cluster', () => {
  it('keeps 30 keys exact under 20 concurrent requests each from two clients, their windows spread over every master', async () => {
    const a = connect();
    const b = connect();
    expect(a).toBeInstanceOf(Cluster);
    const replicas = [new KeyRateLimiter(a, PREFIX), new KeyRateLimiter(b, PREFIX)];
    const keys = Array.from({ length: 30 }, (_, i) => ({ id: `key_cluster${String(i).padStart(12, '0')}`, rpm: 1 + (i % 7), tpm: 50 }));
    const results = await Promise.all(
      keys.flatMap((grant) => Array.from({ length: 20 }, (_, j) => replicas[j % 2]!.admit(grant, 4).then((r) => ({ grant, r })))),
    );
    for (const grant of keys) {
      const admitted = results.filter((x) => x.grant === grant && x.r.status === 'admitted');
      // rpm binds below 12 requests (50 tokens / 4 = 12): exactly min(rpm, 12) get through.
      expect(admitted).toHaveLength(Math.min(grant.rpm, 12));
    }
    expect(results.some((x) => x.r.status === 'unavailable')).toBe(false);
    const masters = new Set<string>();
    for (const grant of keys) {
      const key = redisKeys(PREFIX).keyRateWindow(grant.id);
      expect(await a.hget(key, 'r')).toBe(String(Math.min(grant.rpm, 12)));
      const node = (a as Cluster).slots[Number(await a.call('CLUSTER', 'KEYSLOT', key))]![0]!;
      masters.add(node);
    }
    expect(masters.size).toBe(3);
  });
});
