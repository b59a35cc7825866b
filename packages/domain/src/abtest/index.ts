export * from './assignment.js';
export * from './distributions.js';
export * from './statistics.js';
export * from './histogram.js';
export * from './analysis.js';
export * from './lifecycle.js';
export * from './intervals.js';
