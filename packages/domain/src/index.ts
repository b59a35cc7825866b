export * from './model.js';
export * from './cost.js';
export * from './tokens.js';
export * from './routing/types.js';
export * from './routing/filters.js';
export * from './routing/router.js';
export * from './health/index.js';
export * from './abtest/index.js';
