/**
 * infra/k8s: renders the base and every overlay (tests/support/kustomize.ts, no kustomize binary),
 * validates every object against the Kubernetes, KEDA and Prometheus-operator schemas
 * (kubernetes-models, offline), and checks what the deployment relies on: each service's probes
 * hit paths its ops routes serve, on the port its configuration gives it, on all interfaces; every
 * variable set is one the services read, and secrets come from a Secret by reference; each
 * Deployment has a Service, a PodDisruptionBudget, requests and limits; the API scales on CPU and
 * each worker on the BullMQ wait lists of exactly the queues it consumes; Prometheus scrapes all.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import {
  type Config,
  DEVELOPMENT_ADMIN_API_KEY,
  ENV_OVERRIDES,
  isProductionMode,
  loadConfig,
  mockProviderControlKey,
  productionProblems,
  SERVICE_NAMES,
  type ServiceName,
  servicePort,
  workerOpsHost,
} from '@model-router/config';
import { createMetricsRegistry, opsRouter } from '@model-router/http';
import {
  BOSS_JOB_CATALOG,
  BOSS_SCHEMA,
  type BossJobDefinition,
  bossJobsConsumedBy,
  type ConsumerService,
  eventsConsumedBy,
  JOB_CATALOG,
  queuePrefix,
} from '@model-router/queue';
import { ScaledObject, TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Service } from 'kubernetes-models/v1';
import { ROOT } from '../support/index.js';
import { containersOf, type Resource, renderKustomization } from '../support/kustomize.js';

const K8S = join(ROOT, 'infra/k8s');
const OVERLAYS = readdirSync(join(K8S, 'overlays'));

/** The schema model of each kind the manifests may use; any other kind fails the test. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Namespace': Namespace,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
  'keda.sh/v1alpha1/TriggerAuthentication': TriggerAuthentication,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
};

const WORKERS: ConsumerService[] = ['metric-aggregator', 'health-checker', 'cache-invalidator', 'budget-enforcer'];
/** Variables the processes read besides ENV_OVERRIDES (packages/config, mock-provider, OpenTelemetry). */
const OTHER_VARIABLES = new Set(['MODEL_ROUTER_CONFIG', 'MOCK_PROVIDER_MODELS']);
const SECRET_VARIABLES = /^(DATABASE_URL|REDIS_URL|.*_API_KEY)$/;
/**
 * Without these a process falls back to the image's development defaults (localhost, the dev key),
 * which production mode refuses; it also refuses open route and ingestion endpoints (a client key).
 */
const REQUIRED_SECRETS = ['DATABASE_URL', 'REDIS_URL', 'ADMIN_API_KEY', 'CLIENT_API_KEY'];
/** Stand-ins for the Secret's values, only to validate the configuration a pod would load. */
const SECRET_STAND_INS: Record<string, string> = {
  DATABASE_URL: 'postgres://model-router@postgres.example:5432/model_router',
  REDIS_URL: 'redis://redis.example:6379',
  ADMIN_API_KEY: 'stand-in-admin-key-0123456789',
  CLIENT_API_KEY: 'stand-in-client-key-0123456789',
  READONLY_API_KEY: 'stand-in-readonly-key-0123456789',
};

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean }; configMapKeyRef?: unknown };
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  ports?: Array<{ name?: string; containerPort: number }>;
  env?: EnvVar[];
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}

const key = (r: Resource) => `${r.apiVersion}/${r.kind}`;
const ofKind = (resources: Resource[], kind: string) => resources.filter((r) => r.kind === kind);
const podLabels = (d: Resource) => (d.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;
const selects = (selector: Record<string, string>, labels: Record<string, string> | undefined) =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels?.[k] === v);

/** The paths every service's ops router serves (packages/http), read from the router itself. */
const OPS_PATHS = new Set(
  (opsRouter(createMetricsRegistry('manifest-check'), {}) as unknown as { stack: Array<{ route?: { path: string } }> }).stack
    .map((layer) => layer.route?.path)
    .filter((path): path is string => typeof path === 'string'),
);

/** Each service mounts that router: the API and mock provider in their app, workers through service-runtime. */
function mountsOpsRouter(service: ServiceName): boolean {
  const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
  if (service === 'api' || service === 'mock-provider') return read(`services/${service}/src/app.ts`).includes('opsRouter(');
  return read(`services/${service}/src/main.ts`).includes('runServiceMain(') && read('packages/service-runtime/src/index.ts').includes('opsRouter(');
}

/** The environment a container gets: ConfigMap entries (envFrom) then its own env, secrets as stand-ins. */
function environmentOf(container: Container, resources: Resource[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    const map = ofKind(resources, 'ConfigMap').find((c) => c.metadata.name === source.configMapRef?.name);
    if (!map) throw new Error(`container ${container.name}: envFrom names a ConfigMap that is not rendered`);
    Object.assign(env, (map as { data?: Record<string, string> }).data ?? {});
  }
  for (const variable of container.env ?? []) {
    env[variable.name] = variable.value ?? SECRET_STAND_INS[variable.name] ?? 'stand-in';
  }
  return env;
}

function configOf(container: Container, resources: Resource[]): Config {
  // The image's own configs/model-router.yaml, overridden by the pod's environment, as in the pod.
  return loadConfig({ env: environmentOf(container, resources) });
}

/** "250m" → 0.25 cores, "192Mi" → bytes: to compare requests with limits. */
function quantity(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi)?$/.exec(String(value));
  if (!match) throw new Error(`unreadable quantity ${value}`);
  const factor = { m: 0.001, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 }[match[2] as 'm' | 'Ki' | 'Mi' | 'Gi'] ?? 1;
  return Number(match[1]) * factor;
}

describe.each([['base', join(K8S, 'base')], ...OVERLAYS.map((o) => [`overlays/${o}`, join(K8S, 'overlays', o)])])('infra/k8s/%s', (_name, dir) => {
  const resources = renderKustomization(dir);
  const deployments = ofKind(resources, 'Deployment');
  const containersOfDeployment = (d: Resource) => containersOf(d) as unknown as Container[];

  it('renders the API and every worker', () => {
    expect(deployments.map((d) => d.metadata.name)).toEqual(expect.arrayContaining(['api', ...WORKERS]));
  });

  it('validates every object against its schema', () => {
    for (const resource of resources) {
      const Model = MODELS[key(resource)];
      expect({ object: `${key(resource)} ${resource.metadata.name}`, known: Boolean(Model) }).toEqual({ object: `${key(resource)} ${resource.metadata.name}`, known: true });
      expect(() => new Model!(resource as never).validate()).not.toThrow();
    }
    const names = resources.map((r) => `${r.kind}/${r.metadata.name}`);
    expect(new Set(names).size).toBe(names.length);
  });

  it('runs each Deployment as one service of the image, chosen by its name', () => {
    const images = new Set(deployments.flatMap(containersOfDeployment).map((c) => c.image.replace(/:[^:/]+$/, '')));
    expect(images.size).toBe(1);
    for (const deployment of deployments) {
      const [container, ...others] = containersOfDeployment(deployment);
      expect(others).toEqual([]);
      expect(container!.args).toEqual([deployment.metadata.name]);
      expect(SERVICE_NAMES).toContain(deployment.metadata.name);
      const pod = (deployment.spec as { template: { spec: { securityContext?: { runAsNonRoot?: boolean } } } }).template.spec;
      expect(pod.securityContext?.runAsNonRoot).toBe(true);
      const selector = (deployment.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels;
      expect(selects(selector, podLabels(deployment))).toBe(true);
    }
  });

  it('probes /readyz and /healthz, which each service serves, on the port its configuration gives it, on all interfaces', () => {
    expect([...OPS_PATHS].sort()).toEqual(expect.arrayContaining(['/healthz', '/readyz', '/metrics']));
    for (const deployment of deployments) {
      const service = deployment.metadata.name as ServiceName;
      expect(mountsOpsRouter(service)).toBe(true);
      const container = containersOfDeployment(deployment)[0]!;
      const config = configOf(container, resources);
      const http = container.ports?.find((p) => p.name === 'http');
      expect({ service, port: http?.containerPort }).toEqual({ service, port: servicePort(config, service) });
      expect(container.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
      expect(container.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
      for (const probe of [container.readinessProbe, container.livenessProbe]) expect(OPS_PATHS).toContain(probe!.httpGet!.path);
      // A loopback listener would refuse the kubelet's probes and the other pods.
      const host = service === 'mock-provider' ? config.mock_provider.host : service === 'api' ? config.server.host : workerOpsHost(config);
      expect({ service, host }).toEqual({ service, host: expect.stringMatching(/^(0\.0\.0\.0|::)$/) });
    }
  });

  it('sets only variables the services read, secrets by reference only, and every one they need', () => {
    const known = (name: string) => name in ENV_OVERRIDES || OTHER_VARIABLES.has(name) || name.startsWith('OTEL_');
    for (const map of ofKind(resources, 'ConfigMap')) {
      for (const name of Object.keys((map as { data?: Record<string, string> }).data ?? {})) {
        expect({ name, known: known(name), secret: SECRET_VARIABLES.test(name) }).toEqual({ name, known: true, secret: false });
      }
    }
    for (const deployment of deployments) {
      const container = containersOfDeployment(deployment)[0]!;
      for (const variable of container.env ?? []) {
        expect({ name: variable.name, known: known(variable.name) }).toEqual({ name: variable.name, known: true });
        if (SECRET_VARIABLES.test(variable.name)) {
          expect({ name: variable.name, value: variable.value, ref: variable.valueFrom?.secretKeyRef?.name }).toEqual({
            name: variable.name,
            value: undefined,
            ref: 'model-router-secrets',
          });
        }
      }
      const provided = new Set((container.env ?? []).map((v) => v.name));
      for (const name of REQUIRED_SECRETS) {
        if (deployment.metadata.name === 'mock-provider' && name !== 'ADMIN_API_KEY') continue; // no store, no client routes
        expect({ deployment: deployment.metadata.name, name, provided: provided.has(name) }).toEqual({ deployment: deployment.metadata.name, name, provided: true });
      }
      // The configuration each pod would load is valid (zod, as at start-up), in production mode,
      // and passes its refusals (the secrets are stand-ins of the right shape, not the dev key).
      const config = configOf(container, resources);
      expect(isProductionMode(config)).toBe(true);
      if (deployment.metadata.name === 'mock-provider') expect(mockProviderControlKey(config)).not.toBe(DEVELOPMENT_ADMIN_API_KEY);
      else expect({ deployment: deployment.metadata.name, problems: productionProblems(config) }).toEqual({ deployment: deployment.metadata.name, problems: [] });
    }
  });

  it('gives every container CPU and memory requests and limits, limits above requests', () => {
    for (const container of deployments.flatMap(containersOfDeployment)) {
      for (const resource of ['cpu', 'memory']) {
        const request = container.resources?.requests?.[resource];
        const limit = container.resources?.limits?.[resource];
        expect({ container: container.name, resource, request, limit }).toEqual({ container: container.name, resource, request: expect.any(String), limit: expect.anything() });
        expect(quantity(String(limit))).toBeGreaterThanOrEqual(quantity(request!));
      }
    }
  });

  it('puts a Service and a PodDisruptionBudget in front of every Deployment', () => {
    for (const deployment of deployments) {
      const labels = podLabels(deployment);
      const services = ofKind(resources, 'Service').filter((s) => selects((s.spec as { selector: Record<string, string> }).selector, labels));
      expect(services.map((s) => s.metadata.name)).toEqual([deployment.metadata.name]);
      const ports = (services[0]!.spec as { ports: Array<{ name: string; targetPort: string | number }> }).ports;
      const containerPorts = containersOfDeployment(deployment)[0]!.ports!.map((p) => p.name);
      for (const port of ports) expect(containerPorts).toContain(port.targetPort);
      const budgets = ofKind(resources, 'PodDisruptionBudget').filter((p) =>
        selects((p.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels, labels),
      );
      expect(budgets).toHaveLength(1);
      const spec = budgets[0]!.spec as { minAvailable?: unknown; maxUnavailable?: unknown };
      expect(spec.minAvailable !== undefined || spec.maxUnavailable !== undefined).toBe(true);
    }
  });

  it('scales the API on CPU (and nothing else with a plain HPA)', () => {
    const hpas = ofKind(resources, 'HorizontalPodAutoscaler');
    expect(hpas).toHaveLength(1);
    const spec = hpas[0]!.spec as {
      scaleTargetRef: { kind: string; name: string };
      minReplicas: number;
      maxReplicas: number;
      metrics: Array<{ type: string; resource?: { name: string } }>;
    };
    expect(spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'api' });
    expect(spec.metrics).toEqual([expect.objectContaining({ type: 'Resource', resource: expect.objectContaining({ name: 'cpu' }) })]);
    expect(spec.maxReplicas).toBeGreaterThanOrEqual(spec.minReplicas);
    // CPU utilization is measured against the request: the API must have one.
    const api = deployments.find((d) => d.metadata.name === 'api')!;
    expect(containersOfDeployment(api)[0]!.resources?.requests?.cpu).toBeDefined();
  });

  it("scales each worker with KEDA on the BullMQ wait lists of exactly the queues it consumes (on its pg-boss queue when it has none)", () => {
    const scaled = ofKind(resources, 'ScaledObject');
    expect(scaled.map((s) => s.metadata.name).sort()).toEqual([...WORKERS].sort());
    const auths = new Map(ofKind(resources, 'TriggerAuthentication').map((a) => [a.metadata.name, a]));
    // A trigger's credentials come from the pods' Secret, by reference: `parameter` among them.
    const expectSecretAuth = (trigger: { authenticationRef?: { name: string } }, parameter: string): void => {
      const auth = auths.get(trigger.authenticationRef?.name ?? '');
      expect(auth).toBeDefined();
      const refs = (auth!.spec as { secretTargetRef: Array<{ parameter: string; name: string }> }).secretTargetRef;
      expect(refs.map((r) => r.parameter)).toContain(parameter);
      expect(new Set(refs.map((r) => r.name))).toEqual(new Set(['model-router-secrets']));
    };
    for (const worker of WORKERS) {
      const object = scaled.find((s) => s.metadata.name === worker)!;
      const spec = object.spec as {
        scaleTargetRef: { name: string };
        minReplicaCount: number;
        maxReplicaCount: number;
        triggers: Array<{ type: string; metadata: Record<string, string>; authenticationRef?: { name: string } }>;
      };
      expect(spec.scaleTargetRef.name).toBe(worker);
      expect(spec.minReplicaCount).toBeGreaterThanOrEqual(1);
      expect(spec.maxReplicaCount).toBeGreaterThanOrEqual(spec.minReplicaCount);
      // The worker's own key prefix (its pod's REDIS_KEY_PREFIX) inside BullMQ's key layout.
      const deployment = deployments.find((d) => d.metadata.name === worker)!;
      const prefix = queuePrefix(configOf(containersOfDeployment(deployment)[0]!, resources).redis.key_prefix);
      const queues = [...new Set(eventsConsumedBy(worker).map((name) => JOB_CATALOG[name].queue))];
      const redisTriggers = spec.triggers.filter((t) => t.type === 'redis');
      expect(redisTriggers.map((t) => t.metadata.listName).sort()).toEqual(queues.map((queue) => `${prefix}:${queue}:wait`).sort());
      // A worker without BullMQ queues (the cache-invalidator) scales on the waiting jobs of the
      // pg-boss queue it consumes, counted in pg-boss's job table.
      const bossQueues = bossJobsConsumedBy(worker).map((name): BossJobDefinition => BOSS_JOB_CATALOG[name]).filter((def) => def.schedule === undefined).map((def) => def.queue);
      const postgresTriggers = spec.triggers.filter((t) => t.type === 'postgresql');
      expect(postgresTriggers.length).toBe(queues.length === 0 ? 1 : 0);
      for (const trigger of postgresTriggers) {
        expect(bossQueues.some((queue) => trigger.metadata.query?.includes(`FROM ${BOSS_SCHEMA}.job WHERE name = '${queue}'`))).toBe(true);
        expect(Number(trigger.metadata.targetQueryValue)).toBeGreaterThan(0);
        expectSecretAuth(trigger, 'connection');
      }
      expect(spec.triggers).toHaveLength(redisTriggers.length + postgresTriggers.length);
      for (const trigger of redisTriggers) {
        expect(trigger.type).toBe('redis');
        expect(Number(trigger.metadata.listLength)).toBeGreaterThan(0);
        expectSecretAuth(trigger, 'address');
      }
    }
  });

  it('has Prometheus scrape /metrics of every Service', () => {
    const monitors = ofKind(resources, 'ServiceMonitor');
    expect(monitors).toHaveLength(1);
    const spec = monitors[0]!.spec as { selector: { matchLabels: Record<string, string> }; endpoints: Array<{ port: string; path: string }> };
    expect(spec.endpoints.map((e) => e.path)).toEqual(['/metrics']);
    expect(OPS_PATHS).toContain('/metrics');
    for (const service of ofKind(resources, 'Service')) {
      expect({ service: service.metadata.name, selected: selects(spec.selector.matchLabels, service.metadata.labels) }).toEqual({ service: service.metadata.name, selected: true });
      const ports = (service.spec as { ports: Array<{ name: string }> }).ports.map((p) => p.name);
      for (const endpoint of spec.endpoints) expect(ports).toContain(endpoint.port);
    }
  });

  it('puts every namespaced object in one namespace (overlays) or none (base)', () => {
    const namespaces = new Set(resources.filter((r) => r.kind !== 'Namespace').map((r) => r.metadata.namespace));
    if (dir.endsWith('base')) expect(namespaces).toEqual(new Set([undefined]));
    else {
      expect(namespaces.size).toBe(1);
      expect(ofKind(resources, 'Namespace').map((n) => n.metadata.name)).toEqual([...namespaces]);
    }
  });
});

describe('the renderer', () => {
  it('applies namespace, images and patches as kustomize does', () => {
    const production = renderKustomization(join(K8S, 'overlays/production'));
    const api = production.find((r) => r.kind === 'Deployment' && r.metadata.name === 'api')!;
    expect(api.metadata.namespace).toBe('model-router');
    expect((containersOf(api)[0] as { image: string }).image).toBe('registry.example.com/model-router:0.1.0');
    expect((api.spec as { replicas: number }).replicas).toBe(3);
    const base = renderKustomization(join(K8S, 'base'));
    expect((base.find((r) => r.kind === 'Deployment' && r.metadata.name === 'api')!.spec as { replicas: number }).replicas).toBe(2);
  });
});
