import type { AbTestStatus } from './assignment.js';

export type AbTestAction = 'start' | 'pause' | 'complete';

/**
 * The lifecycle draft → running ⇄ paused → completed (running may complete directly). Returns the
 * status an action leads to from `from`, or null when the transition is not allowed.
 */
export function nextStatus(from: AbTestStatus, action: AbTestAction): AbTestStatus | null {
  switch (action) {
    case 'start':
      return from === 'draft' || from === 'paused' ? 'running' : null;
    case 'pause':
      return from === 'running' ? 'paused' : null;
    case 'complete':
      return from === 'running' || from === 'paused' ? 'completed' : null;
  }
}

/** A running test must be paused or completed before it can be deleted. */
export function canDelete(status: AbTestStatus): boolean {
  return status !== 'running';
}
