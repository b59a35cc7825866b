-- Up Migration
CREATE SCHEMA IF NOT EXISTS model_router;

CREATE TABLE model_router.models (
  id                  text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$'),
  name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  provider            text NOT NULL CHECK (provider ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
  -- List prices in USD per 1,000 tokens; numeric keeps them exact.
  input_price_per_1k  numeric(20, 10) NOT NULL CHECK (input_price_per_1k >= 0),
  output_price_per_1k numeric(20, 10) NOT NULL CHECK (output_price_per_1k >= 0),
  context_window      integer NOT NULL CHECK (context_window > 0),
  max_output_tokens   integer NOT NULL CHECK (max_output_tokens > 0),
  capabilities        text[] NOT NULL DEFAULT '{}',
  enabled             boolean NOT NULL DEFAULT true,
  latency_ms          integer NOT NULL CHECK (latency_ms > 0),
  endpoint            text,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX models_provider_idx ON model_router.models (provider);

-- One row per one-time action of the deployment (e.g. the first-start catalog seed), so deleting
-- every model does not make the next start seed the catalog again.
CREATE TABLE model_router.deployment_events (
  name        text PRIMARY KEY,
  happened_at timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE model_router.deployment_events;
DROP TABLE model_router.models;
DROP SCHEMA model_router;
