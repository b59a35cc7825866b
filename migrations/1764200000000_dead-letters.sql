-- Up Migration

-- Events a consumer can never store (packages/database/src/dead-letter.repository.ts): one that
-- fails the event catalog's schema, or one Postgres refuses on its own (a data error, isolated by
-- splitting its batch). They are set aside here so the other events of their batch commit; a
-- transient failure (Postgres or Redis away) never puts an event here: its job is retried whole.
CREATE TABLE model_router.dead_letter_events (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- The worker service and queue that refused it, and the catalog's event name.
  consumer      text NOT NULL,
  queue         text NOT NULL,
  event_name    text NOT NULL,
  job_id        text NOT NULL,
  -- Copied from the event when it has them (a schema failure may not), for looking events up.
  event_id      text,
  key_id        text,
  -- The event as JSON text, not jsonb: jsonb refuses "\u0000", which may be why the event is here.
  -- JSON.stringify escapes NUL and lone surrogates, so this text always stores.
  event_json    text NOT NULL,
  error         text NOT NULL,
  -- sha256 of event_json: the same event set aside again (its job retried, or sent twice) is
  -- one row, so the table and the counter count each bad event once.
  fingerprint   text NOT NULL,
  dead_lettered_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (consumer, event_name, fingerprint)
);
-- The operator page reads the latest entries.
CREATE INDEX dead_letter_events_latest_idx ON model_router.dead_letter_events (dead_lettered_at DESC, id DESC);

-- Down Migration
DROP TABLE model_router.dead_letter_events;
