// Proxies between podshell and the API server, chosen as client-go chooses them: the cluster's
// `proxy-url` when set, else HTTPS_PROXY / HTTP_PROXY with NO_PROXY, using Go's
// golang.org/x/net/http/httpproxy rules (loopback and localhost are never proxied). HTTP(S)
// proxies are reached with CONNECT tunnels, so the same agent carries plain requests and
// WebSocket upgrades (wss) alike.

import type http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { http as httpModule } from './node-http.ts';

/** A proxy URL with its credentials removed, for messages. */
export function redactUrl(url: URL): string {
  const copy = new URL(url.href);
  copy.username = '';
  copy.password = '';
  return copy.href.replace(/\/$/, '');
}

/** Parse a proxy setting as Go does: a value without a scheme is an http:// proxy. */
export function parseProxyUrl(value: string): URL | undefined {
  const text = value.trim();
  if (!text) return undefined;
  try {
    return new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`);
  } catch {
    return undefined;
  }
}

function env(vars: NodeJS.ProcessEnv, upper: string): string | undefined {
  const value = vars[upper] || vars[upper.toLowerCase()];
  return value ? value : undefined;
}

interface NoProxyRule {
  test(host: string, ip: string | undefined, port: string): boolean;
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}

function expandIpv6(ip: string): bigint {
  let text = ip;
  // An embedded IPv4 tail (::ffff:10.0.0.1) becomes two hextets.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const n = ipv4ToInt(v4[1]!);
    text = `${text.slice(0, v4.index)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = tail === undefined ? [] : tail ? tail.split(':') : [];
  const zeros = tail === undefined ? [] : new Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].reduce((acc, h) => (acc << 16n) | BigInt(parseInt(h, 16)), 0n);
}

function sameIp(a: string, b: string): boolean {
  const fa = net.isIP(a);
  if (fa !== net.isIP(b)) return false;
  return fa === 4 ? a === b : expandIpv6(a) === expandIpv6(b);
}

function inCidr(ip: string, base: string, bits: number): boolean {
  const family = net.isIP(base);
  if (family !== net.isIP(ip)) return false;
  if (family === 4) {
    if (bits === 0) return true;
    const mask = (~0 << (32 - bits)) >>> 0;
    return ((ipv4ToInt(ip) & mask) >>> 0) === ((ipv4ToInt(base) & mask) >>> 0);
  }
  const shift = BigInt(128 - bits);
  return expandIpv6(ip) >> shift === expandIpv6(base) >> shift;
}

/** NO_PROXY, parsed as httpproxy.Config.init does. */
export function parseNoProxy(value: string): NoProxyRule[] {
  const rules: NoProxyRule[] = [];
  for (const raw of value.split(',')) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') return [{ test: () => true }];
    const cidr = /^(.+)\/(\d{1,3})$/.exec(entry);
    if (cidr && net.isIP(cidr[1]!) && Number(cidr[2]) <= (net.isIP(cidr[1]!) === 4 ? 32 : 128)) {
      const base = cidr[1]!;
      const bits = Number(cidr[2]);
      rules.push({ test: (_host, ip) => ip !== undefined && inCidr(ip, base, bits) });
      continue;
    }
    let host = entry;
    let port = '';
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
    if (bracketed) {
      host = bracketed[1]!;
      port = bracketed[2] ?? '';
    } else if (!net.isIP(entry)) {
      const m = /^(.*):(\d+)$/.exec(entry);
      if (m) {
        host = m[1]!;
        port = m[2]!;
      }
    }
    if (!host) continue;
    if (net.isIP(host)) {
      const ruleIp = host;
      rules.push({ test: (_host, ip, p) => ip !== undefined && sameIp(ip, ruleIp) && (port === '' || port === p) });
      continue;
    }
    // foo.com matches foo.com and bar.foo.com; .foo.com and *.foo.com only subdomains.
    if (host.startsWith('*.')) host = host.slice(1);
    const matchHost = !host.startsWith('.');
    const suffix = matchHost ? `.${host}` : host;
    rules.push({ test: (h, ip, p) => ip === undefined && (h.endsWith(suffix) || (matchHost && h === suffix.slice(1))) && (port === '' || port === p) });
  }
  return rules;
}

/** The proxy a request to `target` should use, from the environment (Go's ProxyFromEnvironment). */
export function proxyFromEnvironment(target: URL, vars: NodeJS.ProcessEnv = process.env): URL | undefined {
  const setting = target.protocol === 'https:' ? env(vars, 'HTTPS_PROXY') : env(vars, 'HTTP_PROXY');
  if (!setting) return undefined;
  let host = target.hostname.toLowerCase();
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host.endsWith('.')) host = host.slice(0, -1);
  const ip = net.isIP(host) ? host : undefined;
  // httpproxy.useProxy: localhost and loopback addresses always go direct.
  if (host === 'localhost' || (ip && (net.isIP(ip) === 4 ? ip.startsWith('127.') : sameIp(ip, '::1')))) return undefined;
  const port = target.port || (target.protocol === 'https:' ? '443' : '80');
  if (parseNoProxy(env(vars, 'NO_PROXY') ?? '').some((rule) => rule.test(host, ip, port))) return undefined;
  return parseProxyUrl(setting);
}

/** Open a CONNECT tunnel through `proxy` to host:port. */
function openTunnel(proxy: URL, host: string, port: number, callback: (err: Error | null, socket?: Duplex) => void): void {
  const authority = `${net.isIP(host) === 6 ? `[${host}]` : host}:${port}`;
  const headers: Record<string, string> = { Host: authority };
  if (proxy.username || proxy.password) {
    const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
    headers['Proxy-Authorization'] = `Basic ${Buffer.from(credentials).toString('base64')}`;
  }
  const secure = proxy.protocol === 'https:';
  const request = (secure ? https : httpModule).request({
    host: proxy.hostname.replace(/^\[|\]$/g, ''),
    port: proxy.port || (secure ? 443 : 80),
    method: 'CONNECT',
    path: authority,
    headers,
    agent: false,
    setHost: false,
  });
  let done = false;
  const finish = (err: Error | null, socket?: Duplex) => {
    if (done) return;
    done = true;
    callback(err, socket);
  };
  request.once('connect', (res, socket, head) => {
    if (res.statusCode !== 200) {
      socket.destroy();
      const err = Object.assign(new Error(`proxy ${redactUrl(proxy)} refused to tunnel to ${authority}: ${res.statusCode} ${res.statusMessage ?? ''}`.trim()), { code: 'ERR_PROXY_CONNECT' });
      finish(err);
      return;
    }
    if (head.length > 0) socket.unshift(head);
    finish(null, socket);
  });
  request.once('error', (err) => finish(Object.assign(new Error(`proxy ${redactUrl(proxy)}: ${err.message}`), { code: (err as NodeJS.ErrnoException).code })));
  request.end();
}

type ConnectionCallback = (err: Error | null, stream: Duplex) => void;

/**
 * An https.Agent that reaches every server through a CONNECT tunnel, then speaks TLS to the
 * server inside it with the request's own TLS options (CA, client certificate, servername).
 * Works for https requests and for `ws` WebSocket upgrades.
 */
export class HttpsTunnelAgent extends https.Agent {
  readonly proxy: URL;

  constructor(proxy: URL, options: https.AgentOptions = {}) {
    super({ keepAlive: true, ...options });
    this.proxy = proxy;
  }

  override createConnection(options: https.RequestOptions, callback?: ConnectionCallback): Duplex | null | undefined {
    const host = String(options.host ?? options.hostname ?? 'localhost').replace(/^\[|\]$/g, '');
    const port = Number(options.port ?? 443);
    openTunnel(this.proxy, host, port, (err, socket) => {
      if (err || !socket) return callback?.(err ?? new Error('no tunnel'), undefined as unknown as Duplex);
      const servername = options.servername ?? (net.isIP(host) ? undefined : host);
      const tlsOptions: tls.ConnectionOptions = { ...(options as tls.ConnectionOptions), socket, host };
      if (servername) tlsOptions.servername = servername;
      else delete tlsOptions.servername;
      const secure = tls.connect(tlsOptions);
      callback?.(null, secure);
    });
    return undefined;
  }
}

/** The plain-HTTP counterpart of HttpsTunnelAgent, for http:// servers behind a proxy. */
export class HttpTunnelAgent extends httpModule.Agent {
  readonly proxy: URL;

  constructor(proxy: URL, options: http.AgentOptions = {}) {
    super({ keepAlive: true, ...options });
    this.proxy = proxy;
  }

  override createConnection(options: http.ClientRequestArgs, callback?: ConnectionCallback): Duplex | null | undefined {
    const host = String(options.host ?? options.hostname ?? 'localhost').replace(/^\[|\]$/g, '');
    const port = Number(options.port ?? 80);
    openTunnel(this.proxy, host, port, (err, socket) => callback?.(err, socket as Duplex));
    return undefined;
  }
}
