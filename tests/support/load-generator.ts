/**
 * A steady, bounded load of routes and metrics against the API replicas, with the bookkeeping the
 * invariants need: every event_id answered 202, every route answered 200 (and the variant each A/B
 * user got), every id ever sent.
 *
 * It behaves like a careful client behind a load balancer: a request that gets no answer within
 * REQUEST_TIMEOUT_MS, or a 503, is sent again with the SAME ids (metrics: the same event_ids;
 * routes: the same X-Request-Id) to the next replica, a bounded number of times. That is what
 * makes "accepted = persisted" checkable through faults: an event counts as accepted once some
 * attempt got its 202, and the system must store it exactly once however many attempts reached it.
 *
 * Bounded: one tick every `tickMs`, at most `maxInFlight` requests at once (a tick is skipped, and
 * counted, when that many are waiting), at most `maxRequests` requests in all.
 */
import { seededRandom } from '@model-router/domain';

export const REQUEST_TIMEOUT_MS = 2000;
const MAX_ATTEMPTS = 40;
const RETRY_PAUSE_MS = 250;

export interface LoadOptions {
  apiUrls: string[];
  modelIds: string[];
  abTestId: string;
  users: string[];
  tickMs: number;
  /** Every n-th tick also sends a metrics batch. */
  metricsEveryTicks: number;
  metricsPerBatch: number;
  maxInFlight: number;
  maxRequests: number;
  seed: number;
}

export interface MetricSent {
  event_id: string;
  model_id: string;
  cost_nanos: number;
  success: boolean;
  user_id: string | null;
  ab_test_id: string | null;
  variant_id: string | null;
}

export interface LoadStats {
  requests: number;
  ticksSkipped: number;
  routeOk: number;
  routeRetries: number;
  routeGaveUp: number;
  /** Route answers 503 (retried like a timeout). */
  route503: number;
  metricBatchesAccepted: number;
  metricRetries: number;
  metric503: number;
  timeouts: number;
  /** Answers that no fault explains (a 4xx to our own valid requests, a 500): each is a finding. */
  unexpected: string[];
  /** Successful answers per replica (index in apiUrls) and kind. */
  okByReplica: number[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class LoadGenerator {
  /** event_id → the metric, for every metric ever sent (accepted or not). */
  readonly metricsSent = new Map<string, MetricSent>();
  /** event_ids answered 202 by some attempt. */
  readonly metricsAccepted = new Set<string>();
  /** event_ids whose every attempt failed (never answered 202). */
  readonly metricsGaveUp = new Set<string>();
  /** X-Request-Ids of every route request ever sent, and of those answered 200. */
  readonly routesSent = new Set<string>();
  readonly routesAnswered = new Set<string>();
  /** user → every variant_id the routes answered for them (one expected). */
  readonly variantsSeen = new Map<string, Set<string>>();
  /** A/B routes sent so far: picks their users in turn. */
  private abRouteSeq = 0;
  readonly stats: LoadStats = {
    requests: 0, ticksSkipped: 0, routeOk: 0, routeRetries: 0, routeGaveUp: 0, route503: 0, metricBatchesAccepted: 0,
    metricRetries: 0, metric503: 0, timeouts: 0, unexpected: [], okByReplica: [],
  };
  private readonly random: () => number;
  private inFlight = 0;
  private seq = 0;
  private next = 0;
  private running = false;
  private loop: Promise<void> | null = null;
  private readonly pending = new Set<Promise<unknown>>();

  constructor(private readonly options: LoadOptions) {
    this.random = seededRandom(options.seed);
    this.stats.okByReplica = options.apiUrls.map(() => 0);
  }

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  /** Stops ticking and waits for every request (and its retries) to finish. */
  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    while (this.pending.size) await Promise.all([...this.pending]);
  }

  get budgetLeft(): number {
    return this.options.maxRequests - this.stats.requests;
  }

  /** Sends one metric outside the steady load (a canary); resolves with its event_id once accepted, or throws. */
  async canary(label: string): Promise<string> {
    const metric = this.makeMetric(`canary-${label}-${++this.seq}`);
    const ok = await this.track(this.sendMetrics([metric]));
    if (!ok) throw new Error(`canary ${metric.event_id} was never accepted`);
    return metric.event_id;
  }

  /** One route, retried like the load's; resolves with the replica index that answered 200, or null. */
  routeOnce(replica: number): Promise<number | null> {
    return this.track(this.sendRoute(replica, false));
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    this.pending.add(promise);
    void promise.finally(() => this.pending.delete(promise));
    return promise;
  }

  private async run(): Promise<void> {
    let tick = 0;
    while (this.running && this.budgetLeft > 0) {
      const started = Date.now();
      tick += 1;
      if (this.inFlight >= this.options.maxInFlight) {
        this.stats.ticksSkipped += 1;
      } else {
        void this.track(this.sendRoute(this.next++ % this.options.apiUrls.length, true));
        if (tick % this.options.metricsEveryTicks === 0) {
          const batch = Array.from({ length: this.options.metricsPerBatch }, () => this.makeMetric(`m-${++this.seq}`));
          void this.track(this.sendMetrics(batch));
        }
      }
      await sleep(Math.max(0, this.options.tickMs - (Date.now() - started)));
    }
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)]!;
  }

  private makeMetric(eventId: string): MetricSent {
    // About a third of the metrics report on the A/B test, for the user's own variant.
    const user = this.random() < 0.7 ? this.pick(this.options.users) : null;
    const variant = user ? [...(this.variantsSeen.get(user) ?? [])][0] : undefined;
    const metric: MetricSent = {
      event_id: eventId,
      model_id: this.pick(this.options.modelIds),
      // Whole nano-dollars, so the expected sums are exact integers.
      cost_nanos: 1 + Math.floor(this.random() * 5_000_000),
      success: this.random() >= 0.02,
      user_id: user,
      ab_test_id: variant ? this.options.abTestId : null,
      variant_id: variant ?? null,
    };
    this.metricsSent.set(eventId, metric);
    return metric;
  }

  /** POSTs with a timeout; null when no answer came (timeout or connection error). */
  private async post(replica: number, path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any } | null> {
    if (this.budgetLeft <= 0) return null;
    this.stats.requests += 1;
    this.inFlight += 1;
    try {
      const res = await fetch(`${this.options.apiUrls[replica]}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const text = await res.text();
      let json: unknown = null;
      try {
        json = JSON.parse(text);
      } catch {
        json = text;
      }
      return { status: res.status, json };
    } catch {
      this.stats.timeouts += 1;
      return null;
    } finally {
      this.inFlight -= 1;
    }
  }

  /** Returns the replica that answered 200, or null after giving up. */
  private async sendRoute(first: number, abTest: boolean): Promise<number | null> {
    const id = `r-${++this.seq}`;
    // Users in turn, not drawn: every user of the pool is routed once per cycle, so the campaign's
    // "each user routed at least once" holds by construction once a cycle of A/B routes is answered
    // (a random draw left one of 120 users out in a CI run).
    const user = abTest ? this.options.users[this.abRouteSeq++ % this.options.users.length] : undefined;
    const body = { prompt: `fault campaign request ${id}`, max_tokens: 64, strategy: this.pick(['cheapest', 'fastest', 'balanced'] as const), ...(user ? { user_id: user, enable_ab_test: true, ab_test_id: this.options.abTestId } : {}) };
    this.routesSent.add(id);
    const replicas = this.options.apiUrls.length;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const replica = (first + attempt) % replicas;
      if (attempt > 0) this.stats.routeRetries += 1;
      const answer = await this.post(replica, '/api/v1/route', body, { 'x-request-id': id });
      if (answer?.status === 200) {
        this.stats.routeOk += 1;
        this.stats.okByReplica[replica]! += 1;
        this.routesAnswered.add(id);
        if (user) {
          const seen = this.variantsSeen.get(user) ?? new Set<string>();
          seen.add(String(answer.json.variant_id));
          this.variantsSeen.set(user, seen);
        }
        return replica;
      }
      if (answer?.status === 503) this.stats.route503 += 1;
      else if (answer) {
        this.stats.unexpected.push(`route ${id}: ${answer.status} ${JSON.stringify(answer.json).slice(0, 300)}`);
        return null;
      }
      if (this.budgetLeft <= 0) break;
      await sleep(RETRY_PAUSE_MS);
    }
    this.stats.routeGaveUp += 1;
    return null;
  }

  /** Sends one batch until some attempt answers 202; true when accepted. */
  private async sendMetrics(batch: MetricSent[]): Promise<boolean> {
    const body = {
      metrics: batch.map((m) => ({
        event_id: m.event_id,
        model_id: m.model_id,
        success: m.success,
        latency_ms: 50 + (m.cost_nanos % 2000),
        prompt_tokens: 100 + (m.cost_nanos % 900),
        completion_tokens: 20 + (m.cost_nanos % 400),
        cost: m.cost_nanos / 1e9,
        ...(m.user_id ? { user_id: m.user_id } : {}),
        ...(m.variant_id ? { ab_test_id: m.ab_test_id, variant_id: m.variant_id } : {}),
      })),
    };
    const replicas = this.options.apiUrls.length;
    const first = this.next++ % replicas;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (attempt > 0) this.stats.metricRetries += 1;
      const replica = (first + attempt) % replicas;
      const answer = await this.post(replica, '/api/v1/metrics', body);
      if (answer?.status === 202) {
        this.stats.metricBatchesAccepted += 1;
        this.stats.okByReplica[replica]! += 1;
        for (const m of batch) this.metricsAccepted.add(m.event_id);
        return true;
      }
      if (answer?.status === 503) this.stats.metric503 += 1;
      else if (answer) {
        this.stats.unexpected.push(`metrics ${batch[0]!.event_id}…: ${answer.status} ${JSON.stringify(answer.json).slice(0, 300)}`);
        break;
      }
      if (this.budgetLeft <= 0) break;
      await sleep(RETRY_PAUSE_MS);
    }
    for (const m of batch) this.metricsGaveUp.add(m.event_id);
    return false;
  }
}
