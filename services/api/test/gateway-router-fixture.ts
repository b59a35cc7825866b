/** A GatewayRouter over a fixed snapshot of `models`: pure (no budgets, no A/B assigner), no I/O. */
import { DEFAULT_ROUTING_OPTIONS, type Model } from '@model-router/domain';
import { GatewayRouter } from '../src/gateway/gateway-router.js';
import type { ApiSnapshot, SnapshotStore } from '../src/state/snapshot-store.js';

export function snapshotOf(models: readonly Model[]): ApiSnapshot {
  return {
    models,
    modelsById: new Map(models.map((m) => [m.id, m])),
    runningTests: new Map(),
    runningTestList: [],
    credentials: new Map(),
    runtime: new Map(),
    budget_blocked: new Map(),
    rate_limited: new Map(),
    version: 1,
  };
}

export function routerFor(snapshot: ApiSnapshot): GatewayRouter {
  return new GatewayRouter({
    snapshots: { current: snapshot } as unknown as SnapshotStore,
    budgets: null,
    assigner: null,
    options: DEFAULT_ROUTING_OPTIONS,
    maxAttempts: 4,
    defaultMaxTokens: 256,
  });
}
