// @peculiar/x509 on Node's webcrypto. The library (through tsyringe) needs the Reflect metadata API at load time; the
// few functions it calls are provided here when no real polyfill (reflect-metadata, core-js) is installed, so the
// product does not depend on a global polyfill import order.
import { webcrypto } from 'node:crypto';
import type * as x509t from '@peculiar/x509';

export type X509 = typeof x509t;

let loaded: Promise<X509> | undefined;

/** The @peculiar/x509 module, configured with Node's webcrypto. */
export function loadX509(): Promise<X509> {
  loaded ??= (async () => {
    installReflectMetadataShim();
    const x509: X509 = await import('@peculiar/x509');
    x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
    return x509;
  })();
  return loaded;
}

function installReflectMetadataShim(): void {
  const R = Reflect as unknown as Record<string, unknown>;
  if (typeof R.getMetadata === 'function') return;
  const store = new WeakMap<object, Map<PropertyKey | undefined, Map<unknown, unknown>>>();
  const table = (target: object, prop: PropertyKey | undefined, create: boolean) => {
    let byProp = store.get(target);
    if (!byProp) {
      if (!create) return undefined;
      byProp = new Map();
      store.set(target, byProp);
    }
    let entries = byProp.get(prop);
    if (!entries && create) {
      entries = new Map();
      byProp.set(prop, entries);
    }
    return entries;
  };
  const hasOwn = (key: unknown, target: object, prop?: PropertyKey) => table(target, prop, false)?.has(key) ?? false;
  const getOwn = (key: unknown, target: object, prop?: PropertyKey) => table(target, prop, false)?.get(key);
  const chain = function* (target: object): Generator<object> {
    for (let t: object | null = target; t; t = Object.getPrototypeOf(t)) yield t;
  };
  R.defineMetadata = (key: unknown, value: unknown, target: object, prop?: PropertyKey) => {
    table(target, prop, true)!.set(key, value);
  };
  R.getOwnMetadata = getOwn;
  R.hasOwnMetadata = hasOwn;
  R.getMetadata = (key: unknown, target: object, prop?: PropertyKey) => {
    for (const t of chain(target)) if (hasOwn(key, t, prop)) return getOwn(key, t, prop);
    return undefined;
  };
  R.hasMetadata = (key: unknown, target: object, prop?: PropertyKey) => {
    for (const t of chain(target)) if (hasOwn(key, t, prop)) return true;
    return false;
  };
  R.metadata = (key: unknown, value: unknown) => (target: object, prop?: PropertyKey) => {
    table(target, prop, true)!.set(key, value);
  };
}
