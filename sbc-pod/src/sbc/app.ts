// Assembles a running signalling element from settings: SIP stack + core + admin server.
// `switchboard sbc` and `switchboard local` both start one of these.
import { readFileSync } from 'node:fs';
import { type AdminOptions, type AdminServer, startAdminServer } from '../admin/server.ts';
import { X_MS_SBC } from '../b2bua/sides.ts';
import type { Settings } from '../config/settings.ts';
import type { Logger } from '../log.ts';
import { SipStack } from '../sip/stack.ts';
import { type CertificateEntry, parseListenSpec } from '../sip/transport/index.ts';
import { type CallHandler, SbcCore } from './core.ts';

export interface SbcElement {
  stack: SipStack;
  core: SbcCore;
  admin: AdminServer;
  /** Readiness (false until config is live; false again when draining). */
  setReady(ready: boolean, reason?: string): void;
  close(): Promise<void>;
}

export class StartupError extends Error {
  override name = 'StartupError';
}

export interface StartSbcOptions {
  settings: Settings;
  logger: Logger;
  /** TLS certificates for the SIP listeners; default: SWITCHBOARD_TLS_CERT/KEY files. */
  certificates?: CertificateEntry[];
  calls?: CallHandler;
  /** Extra fields for the admin /status document. */
  status?: () => Record<string, unknown>;
  /** Metrics, admin API and extra routes of the admin server (the token defaults to SWITCHBOARD_ADMIN_TOKEN). */
  admin?: AdminOptions;
}

function certificatesFromSettings(settings: Settings): CertificateEntry[] {
  if (!settings.tlsCert || !settings.tlsKey) return [];
  try {
    return [
      { certPem: readFileSync(settings.tlsCert, 'utf8'), keyPem: readFileSync(settings.tlsKey, 'utf8'), default: true },
    ];
  } catch (err) {
    throw new StartupError(`cannot read SWITCHBOARD_TLS_CERT/SWITCHBOARD_TLS_KEY: ${(err as Error).message}`);
  }
}

export async function startSbc(opts: StartSbcOptions): Promise<SbcElement> {
  const { settings, logger } = opts;
  const specs = settings.sipListen.map((s) => {
    try {
      return parseListenSpec(s);
    } catch (err) {
      throw new StartupError(`SWITCHBOARD_SIP_LISTEN: ${(err as Error).message}`);
    }
  });
  const certificates = opts.certificates ?? certificatesFromSettings(settings);
  const tlsSpec = specs.find((s) => s.transport === 'TLS');
  if (tlsSpec && certificates.length === 0) {
    throw new StartupError(
      `tls:${tlsSpec.address}:${tlsSpec.port} needs a certificate: set SWITCHBOARD_TLS_CERT and SWITCHBOARD_TLS_KEY, ` +
        'or leave tls out of SWITCHBOARD_SIP_LISTEN',
    );
  }
  const teamsCa = settings.teamsCa ? [readFileSync(settings.teamsCa, 'utf8')] : undefined;
  const stack = new SipStack({
    listen: settings.sipListen,
    ...(settings.sipAdvertisedHost ? { advertisedHost: settings.sipAdvertisedHost } : {}),
    transport: {
      // SWITCHBOARD_SIP_REUSE_PORT: several processes share the listen addresses (SO_REUSEPORT).
      ...(settings.sipReusePort ? { reusePort: true } : {}),
      ...(certificates.length
        ? {
            tls: {
              certificates,
              ...(teamsCa ? { serverCa: teamsCa, verifyClient: { mode: 'request' as const, ca: teamsCa } } : {}),
            },
          }
        : {}),
    },
    productHeader: { name: 'X-MS-SBC', value: X_MS_SBC },
    onDiagnostic: (event, detail) => logger.debug({ event, ...detail }, 'sip diagnostic'),
  });
  const core = new SbcCore(stack, opts.calls);
  let ready = false;
  let notReadyReason = 'starting';
  try {
    const bound = await stack.start();
    logger.info(
      { listeners: bound.map((l) => `${l.transport.toLowerCase()}:${l.address}:${l.port}`) },
      'SIP listening',
    );
  } catch (err) {
    await stack.close();
    throw new StartupError(`cannot listen on SWITCHBOARD_SIP_LISTEN: ${(err as Error).message}`);
  }
  let admin: AdminServer;
  try {
    admin = await startAdminServer(
      settings.adminListen,
      {
        ready: () => ready,
        notReadyReason: () => notReadyReason,
        status: () => ({
          ready,
          listeners: stack.listeners().map((l) => `${l.transport.toLowerCase()}:${l.address}:${l.port}`),
          sip: { ...stack.counters, ...core.counters, transactions: stack.transactions.sizes() },
          ...opts.status?.(),
        }),
      },
      { token: settings.adminToken, ...opts.admin },
    );
  } catch (err) {
    await stack.close();
    throw new StartupError(`cannot listen on SWITCHBOARD_ADMIN_LISTEN: ${(err as Error).message}`);
  }
  logger.info({ admin: `${admin.address.host}:${admin.address.port}` }, 'admin API listening');
  return {
    stack,
    core,
    admin,
    setReady(value, reason = 'not ready') {
      ready = value;
      notReadyReason = reason;
    },
    async close() {
      ready = false;
      notReadyReason = 'shutting down';
      await admin.close();
      await stack.close();
    },
  };
}
