import type { StoredAbTest } from '@model-router/database';
import { type KeyGrant, keyAllowsModel, keyRestrictsModels, type Model } from '@model-router/domain';

/**
 * What the calling API key (the tenant) changes about routing: its allowed models and providers
 * filter the candidates (`key_not_allowed`), and A/B tests with a variant the key may not use are
 * skipped for it.
 */

/**
 * The grant of the stored key a request presented (`res.locals.keyGrant`, set by the auth
 * middleware alone, from the snapshot's credentials: nothing to check again on every read), or
 * null for config client keys, the admin key, and an API without keys.
 */
export function keyGrantFrom(locals: Record<string, unknown>): KeyGrant | null {
  return (locals.keyGrant as KeyGrant | undefined) ?? null;
}

/** The grant when it restricts models (what `RouteQuery.key` takes), else undefined: no filter at all. */
export function restrictingGrant(grant: KeyGrant | null): KeyGrant | undefined {
  return grant !== null && keyRestrictsModels(grant) ? grant : undefined;
}

/**
 * Whether a key restricted to some models may take part in `test`: only when it may use the model
 * of every variant. A key that could not be served one variant is left out of the test altogether
 * (routed as if no test were running, and no assignment is reported): keeping it in for the
 * variants it can use would put its users in those variants only and bias the comparison.
 * A variant whose model is not in the registry counts as allowed only when the key names the
 * model itself and restricts no provider.
 */
export function keyMayJoinTest(grant: KeyGrant, test: StoredAbTest, modelsById: ReadonlyMap<string, Model>): boolean {
  for (const variant of test.variants) {
    const model = modelsById.get(variant.model_id);
    const allowed = model
      ? keyAllowsModel(grant, model)
      : grant.allowed_providers.length === 0 && (grant.allowed_models.length === 0 || grant.allowed_models.includes(variant.model_id));
    if (!allowed) return false;
  }
  return true;
}
