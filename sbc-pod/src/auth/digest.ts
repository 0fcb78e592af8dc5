// SIP digest authentication (RFC 3261 §22, RFC 2617, RFC 7616 for SHA-256, RFC 8760): parse challenges and
// credentials, compute responses, build Authorization headers, and issue/verify stateless nonces. Pure, no I/O.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export type DigestAlgorithm = 'MD5' | 'SHA-256';

export interface DigestChallenge {
  realm: string;
  nonce: string;
  opaque?: string;
  algorithm: DigestAlgorithm;
  /** The qop options offered ("auth", "auth-int"); empty for RFC 2069-style challenges. */
  qop: string[];
  stale: boolean;
}

export interface DigestCredentials {
  username: string;
  realm: string;
  nonce: string;
  uri: string;
  response: string;
  algorithm: DigestAlgorithm;
  cnonce?: string;
  nc?: string;
  qop?: string;
  opaque?: string;
}

/** Parse `key=value, key="quoted value"` auth-params after the scheme. undefined unless the scheme is Digest. */
export function parseAuthParams(header: string): Map<string, string> | undefined {
  const m = /^\s*digest\s+/i.exec(header);
  if (!m) return undefined;
  const params = new Map<string, string>();
  const re = /\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*(?:,|$)/gy;
  re.lastIndex = m[0].length;
  for (;;) {
    const start = re.lastIndex;
    if (start >= header.length) break;
    const p = re.exec(header);
    if (!p) break;
    params.set(p[1]!.toLowerCase(), p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? ''));
  }
  return params;
}

function algorithmOf(value: string | undefined): DigestAlgorithm | undefined {
  if (value === undefined) return 'MD5';
  const v = value.toUpperCase();
  if (v === 'MD5') return 'MD5';
  if (v === 'SHA-256') return 'SHA-256';
  return undefined; // -sess variants and others: not supported
}

/** A WWW-Authenticate / Proxy-Authenticate value, or undefined when it is not a digest challenge we can answer. */
export function parseChallenge(header: string): DigestChallenge | undefined {
  const p = parseAuthParams(header);
  const realm = p?.get('realm');
  const nonce = p?.get('nonce');
  const algorithm = algorithmOf(p?.get('algorithm'));
  if (!p || realm === undefined || nonce === undefined || !algorithm) return undefined;
  const opaque = p.get('opaque');
  return {
    realm,
    nonce,
    algorithm,
    qop: (p.get('qop') ?? '')
      .split(',')
      .map((q) => q.trim().toLowerCase())
      .filter((q) => q !== ''),
    stale: (p.get('stale') ?? '').toLowerCase() === 'true',
    ...(opaque !== undefined ? { opaque } : {}),
  };
}

/** An Authorization / Proxy-Authorization value, or undefined when it is not usable digest credentials. */
export function parseCredentials(header: string): DigestCredentials | undefined {
  const p = parseAuthParams(header);
  if (!p) return undefined;
  const username = p.get('username');
  const realm = p.get('realm');
  const nonce = p.get('nonce');
  const uri = p.get('uri');
  const response = p.get('response');
  const algorithm = algorithmOf(p.get('algorithm'));
  if (username === undefined || realm === undefined || nonce === undefined || uri === undefined) return undefined;
  if (response === undefined || !algorithm) return undefined;
  const out: DigestCredentials = { username, realm, nonce, uri, response: response.toLowerCase(), algorithm };
  for (const k of ['cnonce', 'nc', 'qop', 'opaque'] as const) {
    const v = p.get(k);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

function h(algorithm: DigestAlgorithm, text: string): string {
  return createHash(algorithm === 'MD5' ? 'md5' : 'sha256')
    .update(text)
    .digest('hex');
}

/** The request-digest (RFC 2617 §3.2.2.1, RFC 7616 §3.4.1); qop "auth" or none (auth-int is not offered by us). */
export function digestResponse(p: {
  algorithm: DigestAlgorithm;
  username: string;
  password: string;
  realm: string;
  nonce: string;
  method: string;
  uri: string;
  qop?: string;
  nc?: string;
  cnonce?: string;
}): string {
  const ha1 = h(p.algorithm, `${p.username}:${p.realm}:${p.password}`);
  const ha2 = h(p.algorithm, `${p.method}:${p.uri}`);
  if (p.qop) return h(p.algorithm, `${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:${p.qop}:${ha2}`);
  return h(p.algorithm, `${ha1}:${p.nonce}:${ha2}`);
}

const quote = (v: string) => `"${v.replace(/(["\\])/g, '\\$1')}"`;

/**
 * The Authorization (or Proxy-Authorization) value answering `challenge` for a request. Chooses qop=auth when offered.
 * `cnonce` is random unless given (tests).
 */
export function authorizationFor(
  challenge: DigestChallenge,
  creds: { username: string; password: string },
  request: { method: string; uri: string },
  opts: { nc?: number; cnonce?: string } = {},
): string {
  const qop = challenge.qop.includes('auth') ? 'auth' : undefined;
  const nc = (opts.nc ?? 1).toString(16).padStart(8, '0');
  const cnonce = opts.cnonce ?? randomBytes(8).toString('hex');
  const response = digestResponse({
    algorithm: challenge.algorithm,
    username: creds.username,
    password: creds.password,
    realm: challenge.realm,
    nonce: challenge.nonce,
    method: request.method,
    uri: request.uri,
    ...(qop ? { qop, nc, cnonce } : {}),
  });
  const parts = [
    `username=${quote(creds.username)}`,
    `realm=${quote(challenge.realm)}`,
    `nonce=${quote(challenge.nonce)}`,
    `uri=${quote(request.uri)}`,
    `response=${quote(response)}`,
    `algorithm=${challenge.algorithm}`,
  ];
  if (challenge.opaque !== undefined) parts.push(`opaque=${quote(challenge.opaque)}`);
  if (qop) parts.push(`qop=${qop}`, `nc=${nc}`, `cnonce=${quote(cnonce)}`);
  return `Digest ${parts.join(', ')}`;
}

/** The challenge header value we send (407 Proxy-Authenticate / 401 WWW-Authenticate). */
export function challengeHeader(c: {
  realm: string;
  nonce: string;
  algorithm?: DigestAlgorithm;
  stale?: boolean;
}): string {
  const parts = [
    `realm=${quote(c.realm)}`,
    `nonce=${quote(c.nonce)}`,
    `algorithm=${c.algorithm ?? 'MD5'}`,
    'qop="auth"',
  ];
  if (c.stale) parts.push('stale=true');
  return `Digest ${parts.join(', ')}`;
}

/**
 * Stateless nonces: `<issued-at ms, base36>.<HMAC(secret, issued-at)>`, so any pod holding the secret can verify them
 * and they expire without a table.
 */
export class NonceIssuer {
  #secret: Buffer;
  #lifetimeMs: number;
  #now: () => number;

  constructor(opts: { secret?: Buffer; lifetimeMs?: number; now?: () => number } = {}) {
    this.#secret = opts.secret ?? randomBytes(32);
    this.#lifetimeMs = opts.lifetimeMs ?? 300_000;
    this.#now = opts.now ?? Date.now;
  }

  issue(): string {
    const t = this.#now().toString(36);
    return `${t}.${this.#mac(t)}`;
  }

  /** 'ok', 'stale' (ours but expired: challenge again with stale=true) or 'invalid'. */
  check(nonce: string): 'ok' | 'stale' | 'invalid' {
    const dot = nonce.indexOf('.');
    if (dot <= 0) return 'invalid';
    const t = nonce.slice(0, dot);
    const mac = Buffer.from(nonce.slice(dot + 1));
    const want = Buffer.from(this.#mac(t));
    if (mac.length !== want.length || !timingSafeEqual(mac, want)) return 'invalid';
    const issued = Number.parseInt(t, 36);
    if (!Number.isFinite(issued)) return 'invalid';
    return this.#now() - issued > this.#lifetimeMs ? 'stale' : 'ok';
  }

  #mac(t: string): string {
    return createHmac('sha256', this.#secret).update(t).digest('base64url').slice(0, 22);
  }
}

/** Do these credentials prove knowledge of `password` for this request? (Nonce freshness is checked separately.) */
export function verifyCredentials(creds: DigestCredentials, password: string, method: string): boolean {
  if (creds.qop !== undefined && creds.qop !== 'auth') return false;
  if (creds.qop && (creds.nc === undefined || creds.cnonce === undefined)) return false;
  const want = digestResponse({
    algorithm: creds.algorithm,
    username: creds.username,
    password,
    realm: creds.realm,
    nonce: creds.nonce,
    method,
    uri: creds.uri,
    ...(creds.qop ? { qop: creds.qop, nc: creds.nc!, cnonce: creds.cnonce! } : {}),
  });
  const a = Buffer.from(want);
  const b = Buffer.from(creds.response);
  return a.length === b.length && timingSafeEqual(a, b);
}
