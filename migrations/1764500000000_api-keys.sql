-- Up Migration

-- API keys: one per tenant (an application or team), created by the admin (issue 12, SPEC "Keys").
-- Only a SHA-256 of each secret is stored: a secret is 32 random bytes, so a fast hash is as safe
-- as a slow one and lets every API replica check a key with one map lookup from its snapshot.
CREATE TABLE model_router.api_keys (
  id                         text PRIMARY KEY CHECK (id ~ '^key_[A-Za-z0-9]{16,64}$'),
  name                       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  enabled                    boolean NOT NULL DEFAULT true,
  expires_at                 timestamptz,
  -- Empty: every model (provider) is allowed.
  allowed_models             text[] NOT NULL DEFAULT '{}',
  allowed_providers          text[] NOT NULL DEFAULT '{}',
  -- Requests and tokens per minute; null: unlimited.
  rpm                        integer CHECK (rpm > 0),
  tpm                        integer CHECK (tpm > 0),
  metadata                   jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
  secret_sha256              bytea NOT NULL UNIQUE CHECK (length(secret_sha256) = 32),
  -- After a rotation the old secret keeps working until previous_secret_expires_at.
  previous_secret_sha256     bytea UNIQUE CHECK (length(previous_secret_sha256) = 32),
  previous_secret_expires_at timestamptz,
  created_at                 timestamptz NOT NULL DEFAULT now(),
  updated_at                 timestamptz NOT NULL DEFAULT now(),
  -- Written in batches by the API replicas that saw the key (at most a few seconds late).
  last_used_at               timestamptz,
  CHECK ((previous_secret_sha256 IS NULL) = (previous_secret_expires_at IS NULL))
);

-- Budgets may cover one key's spend.
ALTER TABLE model_router.budgets DROP CONSTRAINT budgets_scope_check;
ALTER TABLE model_router.budgets ADD CONSTRAINT budgets_scope_check CHECK (scope IN ('global', 'provider', 'model', 'user', 'key'));

-- Down Migration
ALTER TABLE model_router.budgets DROP CONSTRAINT budgets_scope_check;
ALTER TABLE model_router.budgets ADD CONSTRAINT budgets_scope_check CHECK (scope IN ('global', 'provider', 'model', 'user'));
DROP TABLE model_router.api_keys;
