// The gateway's configuration: its defaults, declared once with their units (docs/web.md), and
// the strict check of anything a user gives (flags, a program's options). A bad value is refused
// at start-up with a sentence that names the setting and what it takes, never later.

import { PodshellError } from '../lib/index.ts';
import type { GatewayConfig } from './context.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** The debug container's image when the configuration names none: a small toolbox with a shell and ps. */
export const DEFAULT_DEBUG_IMAGE = 'busybox:1.36';

/** An image reference as a pod spec takes it: no spaces or control characters, at most 512 characters. */
const IMAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9._\-/:@+]{0,511}$/;

/**
 * Checks an image reference.
 * @throws PodshellError ERR_USAGE
 */
export function checkImageName(name: string, image: unknown): string {
  if (typeof image !== 'string' || !IMAGE_NAME.test(image)) throw usage(`${name} must be an image reference such as busybox:1.36 or registry.example.com/tools/debug:1.2, not ${JSON.stringify(image)}`);
  return image;
}

export const defaultConfig: GatewayConfig = Object.freeze({
  address: '127.0.0.1',
  port: 0, // a free one
  insecureBind: false,
  allowedHosts: [],
  graceMs: 60 * SECOND,
  replayBufferBytes: 1 * MiB,
  highWaterBytes: 256 * KiB,
  lowWaterBytes: 64 * KiB,
  idleTimeoutMs: 30 * MINUTE,
  maxDurationMs: 12 * HOUR,
  maxSessions: 100,
  pingIntervalMs: 20 * SECOND,
  maxUploadBytes: 1 * GiB,
  debugImage: DEFAULT_DEBUG_IMAGE,
}) as GatewayConfig;

function usage(message: string): PodshellError {
  return new PodshellError('ERR_USAGE', message);
}

const durationUnits: Record<string, number> = { ms: 1, s: SECOND, m: MINUTE, h: HOUR };
const sizeUnits: Record<string, number> = { '': 1, b: 1, kib: KiB, mib: MiB, gib: GiB, k: KiB, m: MiB, g: GiB };

/**
 * A duration as a user writes it: `500ms`, `60s`, `30m`, `12h`, or a combination (`1h30m`).
 * @throws PodshellError ERR_USAGE
 * @example parseDuration('--grace', '90s') // 90000
 */
export function parseDuration(name: string, text: string): number {
  const parts = [...text.matchAll(/(\d+)(ms|s|m|h)/gy)];
  if (!text || parts.map((p) => p[0]).join('') !== text) {
    throw usage(`${name} must be a duration such as 500ms, 60s, 30m, 12h or 1h30m, not "${text}"`);
  }
  return parts.reduce((sum, p) => sum + Number(p[1]) * durationUnits[p[2]!]!, 0);
}

/**
 * A size in bytes as a user writes it: `1048576`, `64KiB`, `1MiB`, `1GiB` (K, M, G mean the same).
 * @throws PodshellError ERR_USAGE
 */
export function parseSize(name: string, text: string): number {
  const m = /^(\d+)([a-z]*)$/i.exec(text);
  const unit = m ? sizeUnits[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw usage(`${name} must be a size such as 65536, 64KiB, 1MiB or 1GiB, not "${text}"`);
  return Number(m[1]) * unit;
}

type NumberKey = { [K in keyof GatewayConfig]-?: GatewayConfig[K] extends number ? K : never }[keyof GatewayConfig];

/** Each number's allowed range (inclusive) and what it is, for messages. */
const ranges: Record<NumberKey, [min: number, max: number, what: string]> = {
  port: [0, 65535, 'a TCP port'],
  graceMs: [0, 7 * 24 * HOUR, 'milliseconds'],
  replayBufferBytes: [0, 1 * GiB, 'bytes'],
  highWaterBytes: [1, 1 * GiB, 'bytes'],
  lowWaterBytes: [0, 1 * GiB, 'bytes'],
  idleTimeoutMs: [1 * SECOND, 365 * 24 * HOUR, 'milliseconds'],
  maxDurationMs: [1 * SECOND, 365 * 24 * HOUR, 'milliseconds'],
  maxSessions: [1, 1_000_000, 'sessions'],
  pingIntervalMs: [100, 1 * HOUR, 'milliseconds'],
  maxUploadBytes: [0, Number.MAX_SAFE_INTEGER, 'bytes'],
};

const known = new Set<string>([...Object.keys(defaultConfig), 'tlsCert', 'tlsKey', 'identityPrefix', 'auditorGroups', 'auditLog', 'recordingsDir', 'recordInput', 'recordingsMaxAgeMs', 'debugImage']);

/**
 * A `Host` header value: a name or an address, with a port — or without one, as a browser sends it
 * for the scheme's default port (a gateway behind a TLS proxy on 443).
 */
const HOST_NAME = /^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9.-]*[a-z0-9])?)(:\d{1,5})?$/i;

/**
 * The defaults with `given` over them, checked: no unknown setting, numbers whole and in range,
 * both TLS files or neither, allowed hosts as `name[:port]`.
 * @throws PodshellError ERR_USAGE
 */
export function resolveConfig(given: Partial<GatewayConfig> = {}): GatewayConfig {
  for (const key of Object.keys(given)) {
    if (!known.has(key)) throw usage(`unknown gateway setting "${key}"`);
  }
  const config: GatewayConfig = { ...defaultConfig, allowedHosts: [...defaultConfig.allowedHosts] };
  for (const [key, value] of Object.entries(given)) {
    if (value !== undefined) (config as unknown as Record<string, unknown>)[key] = value;
  }
  for (const [key, [min, max, what]] of Object.entries(ranges) as [NumberKey, [number, number, string]][]) {
    const value = config[key];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw usage(`${key} must be a whole number of ${what} from ${min} to ${max}, not ${JSON.stringify(value)}`);
    }
  }
  if (config.lowWaterBytes >= config.highWaterBytes) {
    throw usage(`lowWaterBytes (${config.lowWaterBytes}) must be below highWaterBytes (${config.highWaterBytes})`);
  }
  if (typeof config.address !== 'string' || !config.address) throw usage('address must be an IP address or a host name');
  if (typeof config.insecureBind !== 'boolean') throw usage('insecureBind must be true or false');
  if (!Array.isArray(config.allowedHosts)) throw usage('allowedHosts must be a list of host names, each with its port unless it is the default one');
  for (const host of config.allowedHosts) {
    if (typeof host !== 'string' || !HOST_NAME.test(host)) {
      throw usage(`an allowed host must be a host name as browsers send it, such as shell.example.com:8443 (or shell.example.com for the default port), not ${JSON.stringify(host)}`);
    }
  }
  config.allowedHosts = config.allowedHosts.map((h) => h.toLowerCase());
  // -- audit and recordings --
  if (config.identityPrefix !== undefined && (typeof config.identityPrefix !== 'string' || config.identityPrefix.startsWith('system:'))) {
    throw usage(`identityPrefix must be a string that does not start with system:, not ${JSON.stringify(config.identityPrefix)}`);
  }
  if (config.auditorGroups !== undefined && (!Array.isArray(config.auditorGroups) || config.auditorGroups.some((g) => typeof g !== 'string' || g === ''))) {
    throw usage('auditorGroups must be a list of group names');
  }
  if (config.auditLog !== undefined && (typeof config.auditLog !== 'string' || !config.auditLog)) throw usage('auditLog must be a file name, or - for stderr');
  if (config.recordingsDir !== undefined && (typeof config.recordingsDir !== 'string' || !config.recordingsDir)) throw usage('recordingsDir must be a folder');
  if (config.recordInput !== undefined && typeof config.recordInput !== 'boolean') throw usage('recordInput must be true or false');
  if (config.recordInput && config.recordingsDir === undefined) throw usage('--record-input needs --recordings DIR');
  if (config.recordingsMaxAgeMs !== undefined) {
    const age = config.recordingsMaxAgeMs;
    if (typeof age !== 'number' || !Number.isInteger(age) || age < 1000) throw usage(`recordingsMaxAgeMs must be a whole number of milliseconds of at least 1000, not ${JSON.stringify(age)}`);
    if (config.recordingsDir === undefined) throw usage('--recordings-max-age needs --recordings DIR');
  }
  checkImageName('debugImage', config.debugImage);
  if (!config.tlsCert !== !config.tlsKey) throw usage('--tls-cert and --tls-key go together: give both files or neither');
  return config;
}

/** Whether an address only this machine can reach. */
export function isLoopback(address: string): boolean {
  return address === 'localhost' || address === '::1' || address === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(address);
}
