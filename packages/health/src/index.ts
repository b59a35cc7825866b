export { CircuitContentionError, CircuitStore, type CircuitStoreOptions } from './circuit.store.js';
export {
  loadRuntime,
  type ModelCircuitRuntime,
  type RuntimeChange,
  runtimeChangeSchema,
  type RuntimeReadOptions,
  subscribeRuntimeChanges,
} from './runtime.js';
export { circuitKey, runtimeChannel } from './circuit.codec.js';
