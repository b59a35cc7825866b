/**
 * Renders a kustomization of infra/k8s the way `kubectl kustomize` does, for the subset of
 * kustomize those files use: `resources` (files, or folders with their own kustomization),
 * `namespace`, `images` and `patches` with a target and JSON 6902 operations (applied by
 * fast-json-patch). Any other field is refused, so the manifests cannot start relying on a
 * feature this renderer would silently skip. No kustomize binary is needed (none is installed here).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import jsonpatch, { type Operation } from 'fast-json-patch';
import { parse, parseAllDocuments } from 'yaml';

export interface Resource {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

interface Kustomization {
  apiVersion?: string;
  kind?: string;
  resources?: string[];
  namespace?: string;
  images?: Array<{ name: string; newName?: string; newTag?: string }>;
  patches?: Array<{ target: { kind: string; name: string }; patch: string }>;
}

const SUPPORTED = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'images', 'patches']);
/** Kinds that live outside any namespace (kustomize's namespace transformer leaves them). */
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'ClusterTriggerAuthentication']);

function readResources(path: string): Resource[] {
  if (statSync(path).isDirectory()) return renderKustomization(path);
  return parseAllDocuments(readFileSync(path, 'utf8'))
    .map((doc) => {
      if (doc.errors.length) throw new Error(`${path}: ${doc.errors.map((e) => e.message).join('; ')}`);
      return doc.toJS() as Resource | null;
    })
    .filter((r): r is Resource => r !== null);
}

/** Every container of a workload's pod template (Deployments, StatefulSets, Jobs …). */
export function containersOf(resource: Resource): Array<Record<string, unknown>> {
  const pod = (resource.spec as { template?: { spec?: Record<string, unknown> } } | undefined)?.template?.spec;
  if (!pod) return [];
  return [...((pod.initContainers as Array<Record<string, unknown>>) ?? []), ...((pod.containers as Array<Record<string, unknown>>) ?? [])];
}

/** name[:tag] of an image reference (a registry port is part of the name). */
function splitImage(image: string): { name: string; tag: string | null } {
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  return colon > slash ? { name: image.slice(0, colon), tag: image.slice(colon + 1) } : { name: image, tag: null };
}

/** The resources of the kustomization in `dir`, transformed as kustomize transforms them. */
export function renderKustomization(dir: string): Resource[] {
  const file = join(dir, 'kustomization.yaml');
  if (!existsSync(file)) throw new Error(`${dir}: no kustomization.yaml`);
  const kustomization = parse(readFileSync(file, 'utf8')) as Kustomization;
  const unsupported = Object.keys(kustomization).filter((key) => !SUPPORTED.has(key));
  if (unsupported.length) throw new Error(`${file}: fields this renderer does not apply: ${unsupported.join(', ')}`);

  let resources = (kustomization.resources ?? []).flatMap((entry) => readResources(join(dir, entry)));

  for (const image of kustomization.images ?? []) {
    for (const container of resources.flatMap(containersOf)) {
      const current = splitImage(String(container.image));
      if (current.name !== image.name) continue;
      const tag = image.newTag ?? current.tag;
      container.image = `${image.newName ?? current.name}${tag ? `:${tag}` : ''}`;
    }
  }

  for (const { target, patch } of kustomization.patches ?? []) {
    const operations = parse(patch) as Operation[];
    const matching = resources.filter((r) => r.kind === target.kind && r.metadata.name === target.name);
    // Stricter than kustomize: a patch that matches nothing is a mistake, not a no-op.
    if (matching.length === 0) throw new Error(`${file}: patch target ${target.kind}/${target.name} matches no resource`);
    resources = resources.map((r) => (matching.includes(r) ? (jsonpatch.applyPatch(r, operations, true, false).newDocument as Resource) : r));
  }

  if (kustomization.namespace) {
    for (const resource of resources) {
      if (resource.kind === 'Namespace') resource.metadata.name = kustomization.namespace;
      else if (!CLUSTER_SCOPED.has(resource.kind)) resource.metadata.namespace = kustomization.namespace;
    }
  }
  return resources;
}
