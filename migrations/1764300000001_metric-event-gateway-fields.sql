-- Up Migration
-- What the gateway knows about a call that a client's report does not: that the gateway saw it,
-- its time to first token, and whether the tokens were counted by the tokenizer (the provider sent
-- no usage) rather than reported by the provider.
ALTER TABLE model_router.metric_events
  ADD COLUMN source           text NOT NULL DEFAULT 'client' CHECK (source IN ('client', 'gateway')),
  ADD COLUMN ttft_ms          double precision CHECK (ttft_ms >= 0),
  ADD COLUMN tokens_estimated boolean NOT NULL DEFAULT false;

-- Down Migration
ALTER TABLE model_router.metric_events
  DROP COLUMN tokens_estimated,
  DROP COLUMN ttft_ms,
  DROP COLUMN source;
