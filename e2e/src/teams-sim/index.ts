// The simulated Microsoft Teams Direct Routing peer for end-to-end tests (see README.md).
export {
  type CallScript,
  type CallState,
  DEFAULT_SCRIPT,
  IncomingCall,
  OutgoingCall,
  type PlaceCallOptions,
  type ScriptStep,
} from './calls.ts';
export {
  type CertNames,
  certCoversHost,
  certNames,
  dnsNameMatches,
  EKU_CLIENT_AUTH,
  EKU_SERVER_AUTH,
  hasServerAndClientAuth,
  isIpHost,
  namesCoverHost,
} from './cert-match.ts';
export { SipConnection } from './connection.ts';
export { ClientTransaction, type InDialogOptions } from './dialog.ts';
export { type CheckContext, checkSbcMessage, formatViolation, type Violation, X_MS_SBC_PATTERN } from './rules.ts';
export {
  type ClientCertPolicy,
  type ConnectionEvent,
  clientCertProblems,
  type ListenerSpec,
  type ProxyMode,
  type ReceivedMessage,
  type ScriptMatch,
  type SimTarget,
  TeamsListener,
  TeamsSim,
  type TeamsSimOptions,
} from './sim.ts';
export { TEAMS_ALLOW, TEAMS_SERVER, teamsContact, teamsResponse, teamsSdp } from './teams-style.ts';
export {
  lookupTenant,
  NO_TRUNK,
  NO_USER,
  type Tenant,
  TenantDirectory,
  type TenantDirectoryInit,
  type TenantInit,
} from './tenants.ts';
export { DEFAULT_WAIT_MS, EventLog, withTimeout } from './wait.ts';
