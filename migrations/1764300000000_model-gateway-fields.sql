-- Up Migration
-- What the gateway needs to call a model: its wire format, where its credential comes from (the
-- name of an environment variable, never the secret), the provider's own model name, and a timeout.
ALTER TABLE model_router.models
  ADD COLUMN api            text NOT NULL DEFAULT 'openai' CHECK (api IN ('openai', 'anthropic', 'gemini')),
  ADD COLUMN api_key_env    text CHECK (api_key_env ~ '^[A-Za-z_][A-Za-z0-9_]{0,127}$'),
  ADD COLUMN upstream_model text CHECK (length(upstream_model) BETWEEN 1 AND 256),
  ADD COLUMN timeout_ms     integer CHECK (timeout_ms BETWEEN 1 AND 3600000);

-- Models seeded before this migration speak their provider's native API.
UPDATE model_router.models SET api = 'anthropic' WHERE provider = 'anthropic';
UPDATE model_router.models SET api = 'gemini' WHERE provider = 'google';
-- Gemini's API lives under /v1beta: a seeded ".../v1" endpoint of a Google model moves there.
UPDATE model_router.models SET endpoint = regexp_replace(endpoint, '/v1/?$', '/v1beta')
  WHERE provider = 'google' AND endpoint ~ '/v1/?$';

-- Down Migration
ALTER TABLE model_router.models
  DROP COLUMN timeout_ms,
  DROP COLUMN upstream_model,
  DROP COLUMN api_key_env,
  DROP COLUMN api;
