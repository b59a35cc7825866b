import type { BudgetRule } from './budget.js';

/** Who or what a cost (or a route request's candidate model) belongs to. */
export interface SpendSubject {
  model_id: string;
  provider: string;
  user_id: string | null;
  /**
   * The API key the cost (or request) belongs to: the event's `key_id` ("default" when the API has
   * no client keys). Null where no key is known: a `key` budget then covers nothing.
   */
  key_id: string | null;
}

/** Whether `rule` counts spend of `subject` (and so applies to routing it). */
export function budgetCovers(rule: BudgetRule, subject: SpendSubject): boolean {
  switch (rule.scope) {
    case 'global':
      return true;
    case 'provider':
      return subject.provider === rule.scope_id;
    case 'model':
      return subject.model_id === rule.scope_id;
    case 'user':
      return subject.user_id !== null && subject.user_id === rule.scope_id;
    case 'key':
      return subject.key_id !== null && subject.key_id === rule.scope_id;
  }
}
