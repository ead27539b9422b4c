import { compareResourceVersions } from '../device-models/internal.js';
import type { NodeDevice } from './device-controller.js';
import type { NodeObject } from './node-session.js';

/**
 * What goes to the edge, versioned by the newer resourceVersion of the Device and its model (a model change
 * must reach the edge as a newer object too): the objects without what only the API server needs (status, managedFields,
 * kubectl's last-applied annotation), so they validate like YAML files and stay small.
 */
export function toNodeObject(entry: NodeDevice): NodeObject {
  const trim = (object: { apiVersion?: string; kind?: string; metadata?: object; spec?: unknown }) => {
    const { name, namespace, labels } = (object.metadata ?? {}) as Record<string, unknown>;
    return {
      apiVersion: object.apiVersion,
      kind: object.kind,
      metadata: { name, namespace, ...(labels ? { labels } : {}) },
      spec: object.spec,
    };
  };
  // etcd's revision grows with every write, so the newer of the two versions grows when either object changes.
  const modelVersion = (entry.model.metadata as { resourceVersion?: unknown }).resourceVersion;
  const newer =
    typeof modelVersion === 'string' && compareResourceVersions(modelVersion, entry.resourceVersion) > 0
      ? modelVersion
      : entry.resourceVersion;
  return {
    key: entry.key,
    resourceVersion: newer,
    content: { device: trim(entry.device), model: trim(entry.model) },
  };
}
