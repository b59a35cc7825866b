/**
 * Property tests in CI run from one fixed seed (FC_SEED, default below), so a CI run is
 * reproducible and a red run is never a random draw nobody can replay; a developer's run (CI
 * unset) draws new cases every time and keeps finding new counterexamples. A test that passes its
 * own `seed` keeps it. Loaded by every jest project (jest.config.js `setupFiles`).
 */
import fc from 'fast-check';

const fixed = process.env.FC_SEED ?? (process.env.CI === 'true' ? '20261202' : undefined);
if (fixed !== undefined) fc.configureGlobal({ ...fc.readConfigureGlobal(), seed: Number(fixed) });
