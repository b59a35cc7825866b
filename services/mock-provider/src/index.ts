export { startMockProvider, type MockProviderOptions, type RunningMockProvider } from './server.js';
export { createMockProviderApp, type MockProviderAppOptions } from './app.js';
export { RequestStats, type ModelStats } from './request-stats.js';
export {
  DEFAULT_SETTINGS,
  FAILURE_KINDS,
  type FailureKind,
  type InitialSettings,
  type ModelEntry,
  type ModelSettings,
  parseInitialSettings,
  SettingsError,
  type SettingsPatch,
  SettingsStore,
} from './settings.js';
