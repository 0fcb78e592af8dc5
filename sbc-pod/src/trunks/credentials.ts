// Trunk credentials: the rendered config names Secrets (never inlines them, crds/src/render/config-types.ts); the
// signalling pod reads username/password from them. Local mode: v1 Secret manifests next to the other manifests
// (stringData, or base64 data), re-read on every config check so a changed password needs no restart. Kubernetes
// mode can fill the same store from an informer.
import { loadManifests } from '../../../crds/src/manifests/index.ts';
import type { SecretRefConfig } from '../../../crds/src/render/config-types.ts';

export interface Credentials {
  username: string;
  password: string;
}

export interface CredentialLookup {
  get(ref: SecretRefConfig): Credentials | undefined;
}

/** Credentials from a v1 Secret object (stringData wins over data, as in Kubernetes), or undefined. */
export function credentialsFromSecret(object: Record<string, unknown>): Credentials | undefined {
  const str = (object.stringData ?? {}) as Record<string, unknown>;
  const data = (object.data ?? {}) as Record<string, unknown>;
  const value = (key: string): string | undefined => {
    if (typeof str[key] === 'string') return str[key] as string;
    if (typeof data[key] === 'string') return Buffer.from(data[key] as string, 'base64').toString('utf8');
    return undefined;
  };
  const username = value('username');
  const password = value('password');
  return username !== undefined && password !== undefined ? { username, password } : undefined;
}

export class SecretStore implements CredentialLookup {
  #byRef = new Map<string, Credentials>();

  get(ref: SecretRefConfig): Credentials | undefined {
    return this.#byRef.get(`${ref.namespace}/${ref.name}`);
  }

  /** Replace the contents (e.g. from an informer). */
  set(entries: Iterable<[SecretRefConfig, Credentials]>): void {
    const next = new Map<string, Credentials>();
    for (const [ref, c] of entries) next.set(`${ref.namespace}/${ref.name}`, c);
    this.#byRef = next;
  }

  get size(): number {
    return this.#byRef.size;
  }

  /** Read every `kind: Secret` under the manifest paths. A failed read keeps what the store had. */
  async loadManifests(paths: string[]): Promise<void> {
    const loaded = await loadManifests(paths);
    if (loaded.problems.some((p) => p.severity === 'error')) return;
    const entries: [SecretRefConfig, Credentials][] = [];
    for (const { object } of loaded.objects) {
      if (object.kind !== 'Secret' || object.apiVersion !== 'v1') continue;
      const meta = (object.metadata ?? {}) as { name?: unknown; namespace?: unknown };
      if (typeof meta.name !== 'string') continue;
      const namespace = typeof meta.namespace === 'string' && meta.namespace ? meta.namespace : 'default';
      const creds = credentialsFromSecret(object);
      if (creds) entries.push([{ namespace, name: meta.name }, creds]);
    }
    this.set(entries);
  }
}
