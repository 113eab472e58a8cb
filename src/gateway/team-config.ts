// `podshell web --config FILE`: team sign-in, the shared signing secret, limits and the clusters
// served (docs/web.md, "Signing in"). YAML or JSON (JSON is YAML), checked strictly: an unknown key
// or a wrong value is refused with the path of the field, e.g. `signIn.oidc.issuer: must be an
// https URL`.

import { readFileSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';
import { PodshellError } from '../lib/index.ts';
import { checkImageName, parseDuration, parseSize } from './config.ts';

export interface OidcSignIn {
  issuer: string;
  clientId: string;
  clientSecret?: string;
  redirectUrl: string;
  /** [default ['openid', 'profile', 'email', 'groups']] */
  scopes: string[];
  /** [default 'groups'] */
  groupsClaim: string;
  /** [default 'email', else 'sub' when the ID token has no email] */
  usernameClaim?: string;
}

export interface ProxySignIn {
  /** [default 'X-Forwarded-User'] */
  userHeader: string;
  /** Comma-separated groups. [default 'X-Forwarded-Groups'] */
  groupsHeader: string;
  /** The only TCP peers whose headers are believed: addresses or CIDR ranges. */
  trustedProxies: string[];
}

export interface TeamLimits {
  sessionsPerUser?: number;
  sessions?: number;
  idleTimeoutMs?: number;
  maxDurationMs?: number;
  maxUploadBytes?: number;
}

/** A cluster served with team sign-in (impersonation: sessions.ts, routes-*.ts, clusters.ts use it). */
export interface TeamCluster {
  name: string;
  context?: string;
  inCluster?: boolean;
  /** Only people in one of these groups may use it. */
  groups?: string[];
}

export interface TeamConfig {
  signIn: { oidc: OidcSignIn; proxy?: undefined } | { proxy: ProxySignIn; oidc?: undefined };
  /** The HMAC-SHA256 key of signed sign-ins, shared by replicas (≥ 32 bytes). */
  secret: Buffer;
  limits: TeamLimits;
  clusters?: TeamCluster[];
  /** Put before the user's name and groups toward clusters (never starting with `system:`). [default 'podshell:'] */
  identityPrefix?: string;
  /** People in one of these groups may fetch every session's recording. */
  auditorGroups?: string[];
  /** The image of the web shell's debug containers. [default 'busybox:1.36'] */
  debugImage?: string;
}

export class TeamConfigError extends PodshellError {
  constructor(message: string) {
    super('ERR_USAGE', message);
  }
}

type Obj = Record<string, unknown>;

function fail(path: string, message: string): never {
  throw new TeamConfigError(`${path}: ${message}`);
}

function object(value: unknown, path: string, keys: readonly string[]): Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(path, 'must be a mapping');
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) fail(path ? `${path}.${key}` : key, `unknown setting (known: ${keys.join(', ')})`);
  }
  return value as Obj;
}

function string(value: unknown, path: string): string {
  if (typeof value !== 'string' || value === '') fail(path, 'must be a non-empty string');
  return value;
}

function optional<T>(o: Obj, key: string, path: string, read: (v: unknown, p: string) => T): T | undefined {
  return o[key] === undefined ? undefined : read(o[key], `${path}.${key}`);
}

function url(value: unknown, path: string, loopbackHttp: boolean): string {
  const text = string(value, path);
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    fail(path, 'must be an https URL');
  }
  const loopback = u.hostname === 'localhost' || u.hostname === '[::1]' || /^127\./.test(u.hostname);
  if (u.protocol !== 'https:' && !(loopbackHttp && u.protocol === 'http:' && loopback)) fail(path, loopbackHttp ? 'must be an https URL (http only on loopback)' : 'must be an https URL');
  return text;
}

function strings(value: unknown, path: string): string[] {
  if (!Array.isArray(value)) fail(path, 'must be a list of strings');
  return value.map((v, i) => string(v, `${path}[${i}]`));
}

function whole(value: unknown, path: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 1) fail(path, 'must be a whole number of at least 1');
  return value as number;
}

function units(parser: (name: string, text: string) => number) {
  return (value: unknown, path: string): number => {
    if (typeof value !== 'string') fail(path, 'must be a string with a unit');
    try {
      return parser(path, value);
    } catch (err) {
      throw new TeamConfigError((err as Error).message.replace(`${path} must`, `${path}: must`));
    }
  };
}

/** An address or CIDR range, checked. */
function cidr(value: unknown, path: string): string {
  const text = string(value, path);
  const [address, bits, extra] = text.split('/');
  const family = isIP(address!);
  const max = family === 4 ? 32 : 128;
  if (!family || extra !== undefined || (bits !== undefined && (!/^\d+$/.test(bits) || Number(bits) > max))) fail(path, `must be an IP address or CIDR range, not "${text}"`);
  return text;
}

/** Checks a parsed document; `secretFile` is read with `readSecretFile`. */
export function validateTeamConfig(doc: unknown, readSecretFile: (path: string) => Buffer = (p) => readFileSync(p)): TeamConfig {
  const root = object(doc ?? {}, '', ['signIn', 'secret', 'secretFile', 'limits', 'clusters', 'identityPrefix', 'auditorGroups', 'debugImage']);
  if (root['signIn'] === undefined) fail('signIn', 'required: oidc or proxy');
  const signInDoc = object(root['signIn'], 'signIn', ['oidc', 'proxy']);
  let signIn: TeamConfig['signIn'];
  if ((signInDoc['oidc'] === undefined) === (signInDoc['proxy'] === undefined)) fail('signIn', 'give exactly one of oidc or proxy');
  if (signInDoc['oidc'] !== undefined) {
    const p = 'signIn.oidc';
    const o = object(signInDoc['oidc'], p, ['issuer', 'clientId', 'clientSecret', 'redirectUrl', 'scopes', 'groupsClaim', 'usernameClaim']);
    const usernameClaim = optional(o, 'usernameClaim', p, string);
    const clientSecret = optional(o, 'clientSecret', p, string);
    signIn = {
      oidc: {
        issuer: url(o['issuer'], `${p}.issuer`, true),
        clientId: string(o['clientId'], `${p}.clientId`),
        ...(clientSecret !== undefined ? { clientSecret } : {}),
        redirectUrl: url(o['redirectUrl'], `${p}.redirectUrl`, true),
        scopes: optional(o, 'scopes', p, strings) ?? ['openid', 'profile', 'email', 'groups'],
        groupsClaim: optional(o, 'groupsClaim', p, string) ?? 'groups',
        ...(usernameClaim !== undefined ? { usernameClaim } : {}),
      },
    };
  } else {
    const p = 'signIn.proxy';
    const o = object(signInDoc['proxy'], p, ['userHeader', 'groupsHeader', 'trustedProxies']);
    const trustedProxies = strings(o['trustedProxies'], `${p}.trustedProxies`).map((v, i) => cidr(v, `${p}.trustedProxies[${i}]`));
    if (trustedProxies.length === 0) fail(`${p}.trustedProxies`, 'must name at least one proxy address');
    signIn = {
      proxy: {
        userHeader: optional(o, 'userHeader', p, string) ?? 'X-Forwarded-User',
        groupsHeader: optional(o, 'groupsHeader', p, string) ?? 'X-Forwarded-Groups',
        trustedProxies,
      },
    };
  }
  if ((root['secret'] === undefined) === (root['secretFile'] === undefined)) fail('secret', 'give exactly one of secret or secretFile');
  let secret: Buffer;
  if (root['secret'] !== undefined) {
    secret = Buffer.from(string(root['secret'], 'secret'));
  } else {
    const file = string(root['secretFile'], 'secretFile');
    try {
      secret = readSecretFile(file);
    } catch (err) {
      fail('secretFile', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    // A trailing newline (echo > file) is not part of the secret.
    secret = Buffer.from(secret.toString('utf8').replace(/\r?\n$/, ''));
  }
  if (secret.length < 32) fail(root['secret'] !== undefined ? 'secret' : 'secretFile', `must be at least 32 bytes, not ${secret.length}`);
  const limits: TeamLimits = {};
  if (root['limits'] !== undefined) {
    const p = 'limits';
    const o = object(root['limits'], p, ['sessionsPerUser', 'sessions', 'idleTimeout', 'maxDuration', 'maxUpload']);
    const set = <K extends keyof TeamLimits>(key: K, value: TeamLimits[K] | undefined) => value !== undefined && (limits[key] = value);
    set('sessionsPerUser', optional(o, 'sessionsPerUser', p, whole));
    set('sessions', optional(o, 'sessions', p, whole));
    set('idleTimeoutMs', optional(o, 'idleTimeout', p, units(parseDuration)));
    set('maxDurationMs', optional(o, 'maxDuration', p, units(parseDuration)));
    set('maxUploadBytes', optional(o, 'maxUpload', p, units(parseSize)));
  }
  let clusters: TeamCluster[] | undefined;
  if (root['clusters'] !== undefined) {
    if (!Array.isArray(root['clusters'])) fail('clusters', 'must be a list');
    const names = new Set<string>();
    clusters = root['clusters'].map((c, i) => {
      const p = `clusters[${i}]`;
      const o = object(c, p, ['name', 'context', 'inCluster', 'groups']);
      const name = string(o['name'], `${p}.name`);
      if (names.has(name)) fail(`${p}.name`, `"${name}" is named twice`);
      names.add(name);
      const context = optional(o, 'context', p, string);
      const inCluster = optional(o, 'inCluster', p, (v, q) => (typeof v === 'boolean' ? v : fail(q, 'must be true or false')));
      const groups = optional(o, 'groups', p, strings);
      if (context !== undefined && inCluster) fail(p, 'give context or inCluster, not both');
      return { name, ...(context !== undefined ? { context } : {}), ...(inCluster !== undefined ? { inCluster } : {}), ...(groups ? { groups } : {}) };
    });
  }
  let identityPrefix: string | undefined;
  if (root['identityPrefix'] !== undefined) {
    identityPrefix = string(root['identityPrefix'], 'identityPrefix');
    if (identityPrefix.startsWith('system:')) fail('identityPrefix', 'must not start with system: (the cluster\'s own names)');
  }
  const auditorGroups = root['auditorGroups'] !== undefined ? strings(root['auditorGroups'], 'auditorGroups') : undefined;
  let debugImage: string | undefined;
  if (root['debugImage'] !== undefined) {
    try {
      debugImage = checkImageName('debugImage', root['debugImage']);
    } catch (err) {
      fail('debugImage', (err as Error).message.replace(/^debugImage must/, 'must'));
    }
  }
  return {
    signIn,
    secret,
    limits,
    ...(clusters ? { clusters } : {}),
    ...(identityPrefix !== undefined ? { identityPrefix } : {}),
    ...(auditorGroups ? { auditorGroups } : {}),
    ...(debugImage !== undefined ? { debugImage } : {}),
  };
}

/**
 * Read and check a --config file.
 * @throws TeamConfigError (ERR_USAGE) naming the file and the field
 */
export function loadTeamConfig(file: string): TeamConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new TeamConfigError(`--config ${file}: cannot read it: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new TeamConfigError(`--config ${file}: not YAML or JSON: ${(err as Error).message.split('\n', 1)[0]}`);
  }
  try {
    // A relative secretFile is next to the config file.
    return validateTeamConfig(doc, (path) => readFileSync(resolve(dirname(file), path)));
  } catch (err) {
    throw err instanceof TeamConfigError ? new TeamConfigError(`--config ${file}: ${err.message}`) : err;
  }
}

/** Whether `address` (the TCP peer) is one of `trusted` (addresses or CIDR ranges). */
export function trustedPeer(trusted: readonly string[]): (address: string) => boolean {
  const list = new BlockList();
  for (const entry of trusted) {
    const [address, bits] = entry.split('/');
    const type = isIP(address!) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address!, type);
    else list.addSubnet(address!, Number(bits), type);
  }
  return (address) => {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    const plain = mapped ? mapped[1]! : address;
    const type = isIP(plain) === 6 ? 'ipv6' : 'ipv4';
    return isIP(plain) !== 0 && list.check(plain, type);
  };
}
