// A synthetic provider of n tenants (each in its own namespace, a quarter in a second signalling pool) sharing a
// few trunks: the input of the sharding tests and of the 10,000-tenant benchmark.
import type { RoutePolicy } from '../../../crds/src/api/route-policy.ts';
import type { Tenant } from '../../../crds/src/api/tenant.ts';
import type { Trunk } from '../../../crds/src/api/trunk.ts';

export function syntheticWorld(n: number): { tenants: Tenant[]; trunks: Trunk[]; routePolicies: RoutePolicy[] } {
  const tenants: Tenant[] = [];
  const routePolicies: RoutePolicy[] = [];
  for (let i = 0; i < n; i++) {
    const ns = `t${i}`;
    tenants.push({
      apiVersion: 'switchboard.dev/v1alpha1',
      kind: 'Tenant',
      metadata: { name: ns, namespace: ns },
      spec: {
        displayName: `Tenant ${i}`,
        fqdn: `${ns}.sbc.example.net`,
        certificate:
          i % 10 === 0 ? { mode: 'Dedicated', issuerRef: { name: 'ca', kind: 'ClusterIssuer' } } : { mode: 'Wildcard' },
        numbers: [`+1555${String(i).padStart(6, '0')}0-+1555${String(i).padStart(6, '0')}9`],
        limits: { callsPerSecond: 10, maxConcurrentCalls: 100 },
        routePolicyRef: { name: ns },
        billing: { accountId: `ACC-${i}` },
        ...(i % 4 === 0 ? { signallingPool: 'gold' } : {}),
      },
    } as Tenant);
    routePolicies.push({
      apiVersion: 'switchboard.dev/v1alpha1',
      kind: 'RoutePolicy',
      metadata: { name: ns, namespace: ns },
      spec: {
        routes: [
          {
            name: 'us',
            match: { destinationPrefix: '+1' },
            action: { trunks: [{ namespace: 'carriers', name: 'us' }] },
          },
          {
            name: 'uk',
            match: { destinationPrefix: '+44' },
            action: {
              trunks: [
                { namespace: 'carriers', name: 'intl' },
                { namespace: 'carriers', name: 'us' },
              ],
            },
          },
        ],
        defaultAction: { block: { sipCode: 403 } },
      },
    } as RoutePolicy);
  }
  const trunk = (name: string): Trunk =>
    ({
      apiVersion: 'switchboard.dev/v1alpha1',
      kind: 'Trunk',
      metadata: { name, namespace: 'carriers' },
      spec: {
        targets: [{ host: `${name}.carrier.example.com` }],
        sharing: { mode: 'Shared', allowedTenants: { namespaces: { from: 'All' } } },
      },
    }) as Trunk;
  return { tenants, trunks: [trunk('us'), trunk('intl')], routePolicies };
}
