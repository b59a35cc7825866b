export * from './money.js';
export * from './budget.js';
export * from './period.js';
export * from './scope.js';
export * from './thresholds.js';
export * from './spend.js';
export * from './enforcement.js';
