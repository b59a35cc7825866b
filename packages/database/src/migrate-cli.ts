/**
 * `pnpm migrate [up|down] [count]`: applies pending migrations (default) or reverts the last one.
 * Uses DATABASE_URL or the database of configs/model-router.yaml.
 */
import { loadConfig } from '@model-router/config';
import { ensureDatabase } from './pool.js';
import { migrate } from './migrate.js';

const [directionArg = 'up', countArg] = process.argv.slice(2);
if (directionArg !== 'up' && directionArg !== 'down') {
  console.error(`usage: pnpm migrate [up|down] [count]  (got "${directionArg}")`);
  process.exit(2);
}
const config = loadConfig();
await ensureDatabase(config.database.url);
const names = await migrate({
  databaseUrl: config.database.url,
  direction: directionArg,
  ...(countArg ? { count: Number(countArg) } : {}),
  log: (message) => console.log(message),
});
console.log(names.length ? `${directionArg}: ${names.join(', ')}` : 'no migrations to run');
