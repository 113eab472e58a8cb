// Signed sign-ins (docs/web.md, "Signing in"): the cookie is the sign-in itself — principal id,
// user, groups, CSRF token and expiry — with an HMAC-SHA256 of the config's secret, so any replica
// holding the same secret accepts it. Nothing secret is in it beyond what its holder already has.

import { createHmac, timingSafeEqual } from 'node:crypto';

export interface SignedSignIn {
  id: string;
  csrfToken: string;
  user?: string;
  groups?: string[];
  /** When it was signed, milliseconds since the epoch (a logout ends the sign-ins issued until then). */
  issued: number;
  /** Milliseconds since the epoch. */
  expires: number;
}

const mac = (secret: Buffer, body: string) => createHmac('sha256', secret).update(body).digest('base64url');

/** `BODY.MAC`, both base64url. */
export function signSignIn(secret: Buffer, signIn: SignedSignIn): string {
  const body = Buffer.from(JSON.stringify({ i: signIn.id, c: signIn.csrfToken, u: signIn.user, g: signIn.groups, t: signIn.issued, e: signIn.expires })).toString('base64url');
  return `${body}.${mac(secret, body)}`;
}

/** The sign-in of a cookie whose MAC is right and which has not expired; else undefined. */
export function verifySignIn(secret: Buffer, cookie: string, now = Date.now()): SignedSignIn | undefined {
  const dot = cookie.indexOf('.');
  if (dot <= 0 || cookie.length > 8192) return undefined;
  const body = cookie.slice(0, dot);
  const given = Buffer.from(cookie.slice(dot + 1));
  const wanted = Buffer.from(mac(secret, body));
  if (given.length !== wanted.length || !timingSafeEqual(given, wanted)) return undefined;
  let p: { i?: unknown; c?: unknown; u?: unknown; g?: unknown; t?: unknown; e?: unknown };
  try {
    p = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof p.i !== 'string' || typeof p.c !== 'string' || typeof p.t !== 'number' || typeof p.e !== 'number' || now >= p.e) return undefined;
  const groups = Array.isArray(p.g) ? p.g.filter((g): g is string => typeof g === 'string') : undefined;
  return { id: p.i, csrfToken: p.c, issued: p.t, expires: p.e, ...(typeof p.u === 'string' ? { user: p.u } : {}), ...(groups ? { groups } : {}) };
}
