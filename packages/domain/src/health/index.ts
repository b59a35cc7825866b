export * from './outcomes.js';
export * from './circuit.js';
export * from './health-state.js';
