// Shared start-up of `switchboard local` and `switchboard sbc`: settings from env + flags, a logger, a config source.
import { readFileSync } from 'node:fs';
import { loadSettings, type Settings, SettingsError, settingsHelp } from '../../sbc-pod/src/config/settings.ts';
import {
  type CertificateProvider,
  type ConfigSource,
  KubernetesSource,
  ManifestDirectorySource,
  RenderedDirectorySource,
} from '../../sbc-pod/src/config/source/index.ts';
import type { CertificateEntry } from '../../sbc-pod/src/sip/transport/index.ts';

export function settingsOrExit(command: string, args: string[], overrides: NodeJS.ProcessEnv = {}): Settings | number {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(
      `Usage: switchboard ${command} [options]\n\nOptions (flag, environment variable):\n${settingsHelp()}\n`,
    );
    return 0;
  }
  try {
    return loadSettings({ ...overrides, ...process.env }, args);
  } catch (err) {
    if (err instanceof SettingsError) {
      process.stderr.write(`switchboard ${command}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

/** Certificates from SWITCHBOARD_TLS_CERT/KEY, re-read on every config load so a renewed file is picked up. */
export function fileCertificates(settings: Settings): (() => CertificateEntry[]) | undefined {
  const { tlsCert, tlsKey } = settings;
  if (!tlsCert || !tlsKey) return undefined;
  return () => [{ certPem: readFileSync(tlsCert, 'utf8'), keyPem: readFileSync(tlsKey, 'utf8'), default: true }];
}

export function configSourceFor(settings: Settings, certificates?: CertificateProvider): ConfigSource {
  const opts = certificates ? { certificates } : {};
  // SWITCHBOARD_CONFIG_SOURCE=kubernetes: the operator's ConfigMaps and TLS Secrets in SWITCHBOARD_NAMESPACE
  // (KUBECONFIG, else the in-cluster ServiceAccount).
  if (process.env.SWITCHBOARD_CONFIG_SOURCE === 'kubernetes') {
    return new KubernetesSource({
      namespace: process.env.SWITCHBOARD_NAMESPACE || 'switchboard-system',
      // A pod loads only its signalling pool's tenants (regulated customers get dedicated pods).
      signallingPool: settings.signallingPool,
      ...opts,
    });
  }
  if (settings.configDir) {
    return new RenderedDirectorySource(settings.configDir, { ...opts, signallingPool: settings.signallingPool });
  }
  // Local mode renders every pool: one process serves them all.
  return new ManifestDirectorySource(settings.manifests, {
    ...opts,
    ...(settings.baseDomain ? { baseDomain: settings.baseDomain } : {}),
  });
}
