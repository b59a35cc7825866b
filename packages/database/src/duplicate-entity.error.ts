/** SQLSTATE of a unique violation: the row's key is taken. */
export const UNIQUE_VIOLATION = '23505';

/** What an operator creates by id; a second one with the same id is refused. */
export type EntityKind = 'model' | 'A/B test' | 'budget';

/** A model, A/B test or budget with this id already exists (the API answers 409 CONFLICT). */
export class DuplicateEntityError extends Error {
  constructor(
    readonly entity: EntityKind,
    readonly id: string,
  ) {
    super(`${entity} "${id}" already exists`);
  }
}
