-- Up Migration

-- Budgets and their spend (services/budget-enforcer, packages/database/src/budget.repository.ts).
-- Money is in nano-dollars (USD × 1e9) in bigint columns: sums stay exact.

CREATE TABLE model_router.budgets (
  id               text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$'),
  name             text CHECK (length(name) BETWEEN 1 AND 200),
  scope            text NOT NULL CHECK (scope IN ('global', 'provider', 'model', 'user')),
  -- The provider, model or user covered; a global budget has none.
  scope_id         text CHECK (length(scope_id) BETWEEN 1 AND 256),
  period           text NOT NULL CHECK (period IN ('daily', 'monthly')),
  -- IANA zone whose local days (or months) are the periods; validated by the API.
  timezone         text NOT NULL DEFAULT 'UTC',
  limit_nanos      bigint NOT NULL CHECK (limit_nanos > 0),
  action           text NOT NULL CHECK (action IN ('block', 'downgrade', 'alert_only')),
  alert_thresholds double precision[] NOT NULL DEFAULT '{0.5,0.8,1.0}',
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  CHECK ((scope = 'global') = (scope_id IS NULL))
);

-- Spend per budget per period, written by the budget enforcer in the same transaction as the
-- ledger below: the durable truth that Redis counters are rebuilt from.
CREATE TABLE model_router.budget_spend (
  budget_id    text NOT NULL REFERENCES model_router.budgets (id) ON DELETE CASCADE,
  -- The period's local date ("2026-03-08") or month ("2026-03") in the budget's zone.
  period_key   text NOT NULL,
  period_start timestamptz NOT NULL,
  period_end   timestamptz NOT NULL,
  spent_nanos  bigint NOT NULL CHECK (spent_nanos >= 0),
  event_count  bigint NOT NULL CHECK (event_count >= 0),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (budget_id, period_key)
);
-- Reconciliation reads the periods that are current now.
CREATE INDEX budget_spend_period_end_idx ON model_router.budget_spend (period_end);

-- The enforcer's idempotency ledger: a cost event adds to spend only in the transaction that
-- first inserts its id here (ON CONFLICT DO NOTHING RETURNING), so a redelivered batch, a client's
-- repeated event_id or a SIGKILL mid-batch never counts twice. Only events some budget covers are
-- entered. Pruned after retention.raw_events_days, like the aggregator's ledger.
CREATE TABLE model_router.budget_processed_events (
  event_id     text COLLATE "C" PRIMARY KEY,
  processed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX budget_processed_events_processed_at_brin ON model_router.budget_processed_events USING brin (processed_at);

-- One row per threshold crossed per budget per period: the primary key is what makes each
-- budget.threshold_crossed alert fire once, whichever enforcer replica sees the crossing.
CREATE TABLE model_router.budget_alerts (
  budget_id   text NOT NULL REFERENCES model_router.budgets (id) ON DELETE CASCADE,
  period_key  text NOT NULL,
  threshold   double precision NOT NULL,
  spent_nanos bigint NOT NULL,
  limit_nanos bigint NOT NULL,
  crossed_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (budget_id, period_key, threshold)
);

-- Down Migration
DROP TABLE model_router.budget_alerts;
DROP TABLE model_router.budget_processed_events;
DROP TABLE model_router.budget_spend;
DROP TABLE model_router.budgets;
