import type { ConsumerService } from './catalog.js';

/** A service's handlers do not match what the catalog assigns it: start-up stops here. */
export class HandlerRegistrationError extends Error {}

/**
 * Checks handler names against the names the catalog assigns to `service`: each assigned name has
 * exactly one handler and no handler is for a name assigned elsewhere. Throws naming every problem.
 */
export function assertHandlersMatch(service: ConsumerService, kind: 'event' | 'job', assigned: readonly string[], handled: readonly string[]): void {
  const expected = new Set(assigned);
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const name of handled) {
    if (seen.has(name)) problems.push(`${kind} "${name}" has two handlers`);
    seen.add(name);
    if (!expected.has(name)) problems.push(`${kind} "${name}" is not consumed by ${service}`);
  }
  for (const name of expected) if (!seen.has(name)) problems.push(`${kind} "${name}" has no handler in ${service}`);
  if (problems.length) throw new HandlerRegistrationError(`${service}: ${problems.join('; ')}`);
}
