-- Up Migration
-- A/B tests of model variants. The lifecycle is draft → running ⇄ paused → completed; the API
-- changes `status` with a conditional UPDATE so two concurrent transitions cannot both win.
CREATE TABLE model_router.ab_tests (
  id            text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$'),
  name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  description   text NOT NULL DEFAULT '',
  strategy      text NOT NULL CHECK (strategy IN ('consistent_hash', 'weighted_random')),
  status        text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'running', 'paused', 'completed')),
  -- [{id, name, model_id, weight, description}], in order: the first is the control.
  variants      jsonb NOT NULL,
  start_time    timestamptz,
  end_time      timestamptz,
  created_by    text NOT NULL DEFAULT '',
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  started_at    timestamptz,
  completed_at  timestamptz,
  CHECK (end_time IS NULL OR start_time IS NULL OR end_time > start_time)
);

CREATE INDEX ab_tests_status_idx ON model_router.ab_tests (status);
CREATE INDEX ab_tests_created_by_idx ON model_router.ab_tests (created_by);

-- Down Migration
DROP TABLE model_router.ab_tests;
