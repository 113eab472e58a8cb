// The request headers a KubeClient sends for its user: impersonation (kubectl --as and friends),
// and the check that every header value can travel in HTTP at all, made once, before any
// request or WebSocket is opened.

import { http } from './node-http.ts';
import { ConfigError } from './errors.ts';

/** Acting as another user (kubectl --as, --as-group, --as-uid, --as-user-extra). */
export interface Impersonation {
  user?: string;
  groups?: string[];
  uid?: string;
  extra?: Record<string, string[]>;
}

/** client-go headerKeyEscape: percent-encode bytes that are not legal in a header name, and '%'. */
function escapeExtraKey(key: string): string {
  let out = '';
  for (const b of Buffer.from(key, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9!#$&'*+\-.^_`|~]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export function impersonationHeaders(imp: Impersonation): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  if (imp.user) headers['Impersonate-User'] = imp.user;
  if (imp.groups?.length) headers['Impersonate-Group'] = [...imp.groups];
  if (imp.uid) headers['Impersonate-Uid'] = imp.uid;
  for (const [key, values] of Object.entries(imp.extra ?? {})) {
    if (values.length) headers[`Impersonate-Extra-${escapeExtraKey(key)}`] = [...values];
  }
  return headers;
}

/**
 * Throws unless every value can be sent as an HTTP header (no line breaks or other control
 * characters). Node would refuse it anyway, but only inside `https.request` or `new WebSocket`,
 * with a message that names neither the setting nor the value.
 * @throws ConfigError ERR_KUBECONFIG naming the header and its value (JSON-quoted), or
 * ERR_CREDENTIALS for the Authorization header, whose value is never shown
 */
export function checkHeaderValues(headers: Record<string, string | string[]>, userName: string | undefined): void {
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      try {
        http.validateHeaderValue(name, v);
      } catch {
        if (/^authorization$/i.test(name)) {
          throw new ConfigError('ERR_CREDENTIALS', `the credentials${userName ? ` of user "${userName}"` : ''} cannot be sent: the Authorization header value holds characters HTTP headers do not allow (a line break or another control character)`);
        }
        throw new ConfigError('ERR_KUBECONFIG', `invalid value for the ${name} header: ${JSON.stringify(v)}; HTTP headers do not allow line breaks or other control characters`);
      }
    }
  }
}
