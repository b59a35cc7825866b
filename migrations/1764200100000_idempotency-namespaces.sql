-- Up Migration

-- Client-chosen ids (a metric's event_id, a route's X-Request-Id) deduplicate only within one
-- client namespace: the id of the client key that sent the event (auth.client_api_keys), or
-- 'default' when the API has no client keys. Two clients that happen to pick the same event_id
-- are two events; the same client sending it twice is one. Existing rows are in 'default', the
-- namespace events of older producers are read into.

ALTER TABLE model_router.processed_events ADD COLUMN key_id text COLLATE "C" NOT NULL DEFAULT 'default';
-- The id stays first: it decides nearly every comparison.
ALTER TABLE model_router.processed_events DROP CONSTRAINT processed_events_pkey;
ALTER TABLE model_router.processed_events ADD PRIMARY KEY (event_id, key_id, kind);

ALTER TABLE model_router.budget_processed_events ADD COLUMN key_id text COLLATE "C" NOT NULL DEFAULT 'default';
ALTER TABLE model_router.budget_processed_events DROP CONSTRAINT budget_processed_events_pkey;
ALTER TABLE model_router.budget_processed_events ADD PRIMARY KEY (event_id, key_id);

-- The raw rows say whose they are (added to the parents, so every partition has it).
ALTER TABLE model_router.route_events ADD COLUMN key_id text NOT NULL DEFAULT 'default';
ALTER TABLE model_router.metric_events ADD COLUMN key_id text NOT NULL DEFAULT 'default';

-- Down Migration
ALTER TABLE model_router.metric_events DROP COLUMN key_id;
ALTER TABLE model_router.route_events DROP COLUMN key_id;
ALTER TABLE model_router.budget_processed_events DROP CONSTRAINT budget_processed_events_pkey;
ALTER TABLE model_router.budget_processed_events DROP COLUMN key_id;
ALTER TABLE model_router.budget_processed_events ADD PRIMARY KEY (event_id);
ALTER TABLE model_router.processed_events DROP CONSTRAINT processed_events_pkey;
ALTER TABLE model_router.processed_events DROP COLUMN key_id;
ALTER TABLE model_router.processed_events ADD PRIMARY KEY (event_id, kind);
