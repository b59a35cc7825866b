// Tests are ES modules compiled by SWC; jest runs them with --experimental-vm-modules (see package.json).
const swc = [
  '@swc/jest',
  {
    jsc: { parser: { syntax: 'typescript' }, target: 'es2023' },
    module: { type: 'es6' },
  },
];

// Tests run the TypeScript sources: workspace packages resolve through their `development` export
// condition (src/*.ts) instead of the compiled dist/ that production uses. Set here, before jest
// starts its workers, so every process a test starts (`make up`, a service's main.ts under tsx, the
// template database script) inherits it too; tests of the compiled build remove it.
if (!(process.env.NODE_OPTIONS ?? '').includes('--conditions=development')) {
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --conditions=development`.trim();
}

const common = {
  testEnvironment: 'node',
  testEnvironmentOptions: { customExportConditions: ['development', 'node', 'node-addons'] },
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': swc },
  // Source imports use NodeNext-style `.js` suffixes; map them back to the `.ts` files.
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  // Compiled output (`pnpm build`) is never a test nor a module to map.
  modulePathIgnorePatterns: ['<rootDir>/(packages|services)/[^/]+/dist/'],
  // Property tests: one fixed seed in CI, new draws on a developer's machine.
  setupFiles: ['<rootDir>/tests/support/fast-check-seed.ts'],
};

/** Tiers that need this run's migrated template database in Postgres (tests/support). */
const withServices = {
  globalSetup: '<rootDir>/tests/support/global-setup.js',
  globalTeardown: '<rootDir>/tests/support/global-teardown.js',
};

/**
 * Pure tests outside packages/*\/test: no Redis, no Postgres, no child service (in-process HTTP at
 * most). Listed by path because they sit beside the integration tests of their service.
 */
const unitElsewhere = [
  'bench/test/added-p99.test.ts',
  'services/api/test/gateway-deadline.test.ts',
  'services/api/test/gateway-key-grants.property.test.ts',
  'services/api/test/gateway-openai-error.test.ts',
  'services/api/test/gateway-prompt-tokens.property.test.ts',
  'services/api/test/gateway-rate-limit-headers.test.ts',
  'services/api/test/gateway-streamed-answer.test.ts',
  'services/api/test/gateway-upstream-policy.test.ts',
  'services/api/test/key-presented-digests.property.test.ts',
  'services/api/test/key-rate-limit-headers.test.ts',
  'services/api/test/metric-events.test.ts',
  'services/api/test/route-schema.test.ts',
  'services/health-checker/test/probe.test.ts',
  'services/mock-provider/test/control.test.ts',
  'services/mock-provider/test/openai.test.ts',
  'tests/integration/prometheus-parser.test.ts',
  'tests/integration/spawned-processes.test.ts',
  'tests/deploy/build-config.test.ts',
  'tests/deploy/dockerfile.test.ts',
  'tests/deploy/kubernetes.test.ts',
];
/** Tests under packages/*\/test that use the real Redis or Postgres. */
const integrationInPackages = ['packages/budgets/test/**/*.test.ts', 'packages/health/test/**/*.test.ts'];

const not = (paths) => paths.map((path) => `!**/${path}`);

/**
 * The test tiers, each runnable alone (`pnpm test:unit`, `test:integration`, `test:e2e`,
 * `test:browser`, `test:faults`); `pnpm test` runs them all. A new tier is one more entry here and one script.
 */
export default {
  // Integration tests start real services; each waits for real outcomes.
  testTimeout: 60000,
  // The run ends once every test has finished and the results are written, even when a failed
  // test left a connection open (one did: a Redis MONITOR connection kept Jest, and so CI, alive
  // for 40 minutes after the results were written); a red run is then reported at once.
  forceExit: true,
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/packages/*/test/**/*.test.ts', ...not(integrationInPackages), ...unitElsewhere.map((path) => `<rootDir>/${path}`)],
    },
    {
      ...common,
      ...withServices,
      displayName: 'integration',
      testMatch: [
        '<rootDir>/services/*/test/**/*.test.ts',
        '<rootDir>/tests/integration/**/*.test.ts',
        ...integrationInPackages.map((path) => `<rootDir>/${path}`),
        ...not(unitElsewhere),
      ],
    },
    {
      // The system started as the README says (`make up`), or from the compiled build as
      // production starts it (tests/deploy/compiled-build.test.ts).
      ...common,
      ...withServices,
      displayName: 'e2e',
      testMatch: ['<rootDir>/tests/e2e/**/*.test.ts', '<rootDir>/tests/deploy/compiled-build.test.ts'],
    },
    {
      ...common,
      ...withServices,
      displayName: 'browser',
      testMatch: ['<rootDir>/tests/browser/**/*.test.ts'],
    },
    {
      // The fault campaign (`pnpm test:faults`) starts its own Postgres and Redis, so it needs no
      // template database.
      ...common,
      displayName: 'faults',
      testMatch: ['<rootDir>/tests/faults/**/*.test.ts'],
    },
  ],
};
