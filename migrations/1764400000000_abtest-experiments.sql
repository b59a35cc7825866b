-- Up Migration
-- Sequential analysis, CUPED, bandits and guardrails of A/B tests (SPEC "A/B test additions").

-- analysis: {method, planned_users, alpha, cuped: {enabled, pre_period_days}};
-- guardrails: [{metric, tolerance}]; bandit: {metric, min_share, update_every, top_two_beta} for
-- thompson_sampling tests (null otherwise); paused_reason: why the test paused itself (a tripped
-- guardrail), cleared when it starts again.
ALTER TABLE model_router.ab_tests
  ADD COLUMN analysis      jsonb NOT NULL DEFAULT '{}'::jsonb,
  ADD COLUMN guardrails    jsonb NOT NULL DEFAULT '[]'::jsonb,
  ADD COLUMN bandit        jsonb,
  ADD COLUMN paused_reason text;
ALTER TABLE model_router.ab_tests DROP CONSTRAINT ab_tests_strategy_check;
ALTER TABLE model_router.ab_tests ADD CONSTRAINT ab_tests_strategy_check
  CHECK (strategy IN ('consistent_hash', 'weighted_random', 'thompson_sampling'));

-- The probability with which the user was put in their variant (bandit tests; null for the fixed
-- strategies, whose weights are the probabilities), kept with the earliest decision like the
-- variant itself; `crossed`: the user was also seen in another variant (crossover).
ALTER TABLE model_router.abtest_exposures
  ADD COLUMN assignment_probability double precision CHECK (assignment_probability > 0 AND assignment_probability <= 1),
  ADD COLUMN crossed boolean NOT NULL DEFAULT false;

-- Down Migration
ALTER TABLE model_router.abtest_exposures DROP COLUMN crossed, DROP COLUMN assignment_probability;
DELETE FROM model_router.ab_tests WHERE strategy = 'thompson_sampling';
ALTER TABLE model_router.ab_tests DROP CONSTRAINT ab_tests_strategy_check;
ALTER TABLE model_router.ab_tests ADD CONSTRAINT ab_tests_strategy_check
  CHECK (strategy IN ('consistent_hash', 'weighted_random'));
ALTER TABLE model_router.ab_tests DROP COLUMN paused_reason, DROP COLUMN bandit, DROP COLUMN guardrails, DROP COLUMN analysis;
