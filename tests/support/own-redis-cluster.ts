/**
 * A Redis Cluster of the test's own: `masters` redis-server processes with `--cluster-enabled yes`
 * (and `replicasPerMaster` replicas each) on free loopback ports, one temp directory, joined with
 * `redis-cli --cluster create`. AOF on, `noeviction`, as the README asks of a deployment. A test
 * may SIGKILL a node by pid; `destroy` kills what is left and removes the directory.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll } from '@jest/globals';
import { loadConfig } from '@model-router/config';
import { createRedis, type RedisClient } from '@model-router/redis';
import { Redis } from 'ioredis';
import { freePort } from './processes.js';
import { waitUntil } from './wait.js';

const run = promisify(execFile);

export interface ClusterNodeProcess {
  port: number;
  address: string;
  /** The server's pid while it runs, else null. */
  pid(): number | null;
  /** SIGKILL by pid: no shutdown, no failover handshake; the replicas must notice. */
  kill(): Promise<void>;
  output(): string;
}

export interface OwnRedisCluster {
  nodes: ClusterNodeProcess[];
  /** `host:port,…` of every node, for REDIS_CLUSTER_NODES. */
  nodeList: string;
  /** The node serving `slot` as master now (asked of a running node). */
  masterOf(slot: number): Promise<ClusterNodeProcess>;
  /** CLUSTER KEYSLOT of `key`. */
  keySlot(key: string): Promise<number>;
  /** Lines of CLUSTER NODES as a running node sees them. */
  describe(): Promise<string>;
  /** Waits until every running node reports cluster_state:ok. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  destroy(): Promise<void>;
}

export interface OwnRedisClusterOptions {
  masters?: number;
  replicasPerMaster?: number;
  /** How long a node may be unreachable before it is failed over (cluster-node-timeout, ms). */
  nodeTimeoutMs?: number;
}

async function query(port: number, ...args: string[]): Promise<string> {
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return String(await client.call(args[0]!, ...args.slice(1)));
  } finally {
    client.disconnect();
  }
}

export async function startOwnRedisCluster(options: OwnRedisClusterOptions = {}): Promise<OwnRedisCluster> {
  const masters = options.masters ?? 3;
  const replicas = options.replicasPerMaster ?? 1;
  const dir = mkdtempSync(join(tmpdir(), 'mr-own-cluster-'));
  const nodes: (ClusterNodeProcess & { child: ChildProcess })[] = [];

  const destroy = async () => {
    for (const node of nodes) await node.kill().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    for (let i = 0; i < masters * (1 + replicas); i++) {
      const port = await freePort();
      const nodeDir = join(dir, String(port));
      mkdirSync(nodeDir);
      const child = spawn(
        'redis-server',
        [
          '--port', String(port), '--bind', '127.0.0.1', '--dir', nodeDir, '--daemonize', 'no',
          '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
          '--cluster-node-timeout', String(options.nodeTimeoutMs ?? 2000),
          '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec', '--maxmemory-policy', 'noeviction',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let output = '';
      child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      const running = () => child.exitCode === null && child.signalCode === null;
      nodes.push({
        port,
        address: `127.0.0.1:${port}`,
        child,
        pid: () => (running() ? child.pid! : null),
        output: () => output,
        async kill() {
          if (!running()) return;
          process.kill(child.pid!, 'SIGKILL');
          await exited;
        },
      });
    }
    for (const node of nodes) {
      await waitUntil(
        async () => {
          if (node.pid() === null) throw new Error(`cluster node ${node.address} exited:\n${node.output()}`);
          return (await query(node.port, 'PING').catch(() => '')) === 'PONG';
        },
        { timeoutMs: 30_000, intervalMs: 50, what: `cluster node ${node.address} up` },
      );
    }
    // Masters are the first `masters` addresses; redis-cli assigns the others as their replicas.
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => n.address), '--cluster-replicas', String(replicas), '--cluster-yes'], { timeout: 60_000 });
  } catch (error) {
    await destroy();
    throw error;
  }

  const alive = () => nodes.filter((n) => n.pid() !== null);
  const cluster: OwnRedisCluster = {
    nodes,
    nodeList: nodes.map((n) => n.address).join(','),
    async keySlot(key) {
      return Number(await query(alive()[0]!.port, 'CLUSTER', 'KEYSLOT', key));
    },
    async describe() {
      return query(alive()[0]!.port, 'CLUSTER', 'NODES');
    },
    async masterOf(slot) {
      const lines = (await cluster.describe()).split('\n').filter((l) => l.includes('master') && !l.includes('fail'));
      for (const line of lines) {
        const [, address, , , , , , , ...ranges] = line.trim().split(' ');
        const port = Number(address!.split('@')[0]!.split(':')[1]);
        for (const range of ranges) {
          const [from, to] = range.split('-').map(Number);
          if (slot >= from! && slot <= (to ?? from!)) return nodes.find((n) => n.port === port)!;
        }
      }
      throw new Error(`no master serves slot ${slot}:\n${lines.join('\n')}`);
    },
    async waitHealthy(timeoutMs = 60_000) {
      await waitUntil(
        async () => {
          const states = await Promise.all(alive().map((n) => query(n.port, 'CLUSTER', 'INFO').catch(() => '')));
          return states.every((s) => s.includes('cluster_state:ok'));
        },
        { timeoutMs, intervalMs: 100, what: 'Redis Cluster state ok on every running node', detail: () => cluster.describe().catch(String) },
      );
    },
    destroy,
  };
  await cluster.waitHealthy();
  return cluster;
}

/**
 * Clients of `cluster` made the way every service makes them (REDIS_CLUSTER_NODES → the config →
 * createRedis: an ioredis Cluster), remembered so a test closes them all at the end.
 */
export function clusterClients(cluster: () => OwnRedisCluster | null): { connect(): RedisClient; disconnectAll(): void } {
  const clients: RedisClient[] = [];
  return {
    connect() {
      const config = loadConfig({ env: { REDIS_CLUSTER_NODES: cluster()!.nodeList, ADMIN_API_KEY: 'cluster-test-admin-key-0123456789' } });
      const client = createRedis(config.redis);
      clients.push(client);
      return client;
    },
    disconnectAll() {
      for (const client of clients.splice(0)) client.disconnect();
    },
  };
}

/**
 * A cluster of the test file's own for all its tests: started before the first, destroyed (with
 * every client `connect` made) after the last.
 */
export function useOwnRedisCluster(options: OwnRedisClusterOptions): { cluster(): OwnRedisCluster; connect(): RedisClient } {
  let cluster: OwnRedisCluster | null = null;
  const clients = clusterClients(() => cluster);
  beforeAll(async () => {
    cluster = await startOwnRedisCluster(options);
  }, 120_000);
  afterAll(async () => {
    clients.disconnectAll();
    await cluster?.destroy();
  });
  return { cluster: () => cluster!, connect: clients.connect };
}
