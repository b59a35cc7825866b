/**
 * `tsx tests/support/template-db.ts create|drop`: makes (or removes) the migrated template database
 * that each integration test file clones. Run by jest's global setup and teardown in a child process,
 * because jest loads those hooks outside its own module mapping.
 */
import { ensureDatabase, migrate } from '@model-router/database';
import pg from 'pg';
import { adminUrl, databaseUrl, templateDb, testDbPrefix } from './env.js';

async function withAdmin(fn: (client: pg.Client) => Promise<void>): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await fn(admin);
  } finally {
    await admin.end();
  }
}

async function drop(): Promise<void> {
  await withAdmin(async (admin) => {
    const { rows } = await admin.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname = $1 OR datname LIKE $2`,
      [templateDb(), `${testDbPrefix()}%`],
    );
    for (const { datname } of rows) {
      await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(datname)} WITH (FORCE)`);
    }
  });
}

const command = process.argv[2];
if (command === 'create') {
  await drop();
  await ensureDatabase(databaseUrl(templateDb()));
  await migrate({ databaseUrl: databaseUrl(templateDb()) });
} else if (command === 'drop') {
  await drop();
} else {
  console.error('usage: template-db.ts create|drop');
  process.exit(2);
}
