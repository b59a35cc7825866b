export { startMockProvider, type MockProviderOptions, type RunningMockProvider } from './server.js';
export { createMockProviderApp, type MockProviderAppOptions } from './app.js';
export {
  DEFAULT_SETTINGS,
  type InitialSettings,
  type ModelEntry,
  type ModelSettings,
  parseInitialSettings,
  SettingsError,
  type SettingsPatch,
  SettingsStore,
} from './settings.js';
