// File specs and path arithmetic for copies, as kubectl cp does it: local
// paths use the client's path rules, remote paths are always POSIX (backslashes become slashes).
// Pure functions; no I/O.

import { posix } from 'node:path';
import { resourceKinds } from '../kube/index.ts';
import { TransferError } from './errors.ts';

export interface RemoteSpec {
  /** Default: the options' namespace, else the kubeconfig context's. */
  namespace?: string;
  /** A pod name, or `TYPE/NAME` (deploy/web: kubectl's most active pod of the workload). */
  pod: string;
  /** A path in the container; relative paths are relative to the container's working directory. */
  path: string;
}

export type FileSpec = { kind: 'local'; path: string } | ({ kind: 'remote' } & RemoteSpec);

const canonical = 'filespec must match the canonical format: [[namespace/]pod:]file/path';

function isResourceType(text: string): boolean {
  const lower = text.toLowerCase();
  const dot = lower.indexOf('.');
  const base = dot === -1 ? lower : lower.slice(0, dot);
  return resourceKinds.some((k) => k.names.includes(base));
}

/**
 * Parse kubectl's file spec `[[namespace/]pod:]path`, plus `TYPE/NAME:path` (`deploy/web:/tmp/x`). Everything up to the first `:` names the pod; the rest is the path, which
 * may contain more colons. Windows drive paths (`C:\x`, `C:/x`) are local.
 *
 * `A/B:path` is ambiguous: when A is a resource type kubectl knows (pod, deploy, sts, job, svc…,
 * case-insensitive, optionally with its group: `deployments.apps`) it is TYPE/NAME, otherwise
 * namespace/pod. (A namespace named like a type: pass it as CopyOptions.namespace.) Three
 * pieces before the colon fail, as in kubectl (`namespace/pod/invalid:/x`).
 * @example
 * parseFileSpec('prod/api-0:/var/log') // { kind: 'remote', namespace: 'prod', pod: 'api-0', path: '/var/log' }
 * parseFileSpec('deploy/web:/tmp/x')   // { kind: 'remote', pod: 'deploy/web', path: '/tmp/x' }
 */
export function parseFileSpec(spec: string): FileSpec {
  if (spec === '') throw new TransferError('ERR_TRANSFER_FILESPEC', 'filepath can not be empty');
  const colon = spec.indexOf(':');
  if (colon === 0) throw new TransferError('ERR_TRANSFER_FILESPEC', canonical);
  if (colon === -1 || /^[A-Za-z]:[\\/]/.test(spec)) return { kind: 'local', path: stripTrailingSlash(spec) };
  const podPart = spec.slice(0, colon);
  const path = normalizeRemotePath(spec.slice(colon + 1));
  const pieces = podPart.split('/');
  if (pieces.some((p) => p === '')) throw new TransferError('ERR_TRANSFER_FILESPEC', canonical);
  let remote: RemoteSpec;
  if (pieces.length === 1) remote = { pod: pieces[0]!, path };
  else if (pieces.length === 2) remote = isResourceType(pieces[0]!) ? { pod: podPart, path } : { namespace: pieces[0]!, pod: pieces[1]!, path };
  else throw new TransferError('ERR_TRANSFER_FILESPEC', canonical);
  if (path === '') throw new TransferError('ERR_TRANSFER_FILESPEC', `remote path cannot be empty: "${spec}" names pod "${remote.pod}" but no file in it`);
  return { kind: 'remote', ...remote };
}

/** Removes one trailing `/` (or `\`), except from a root. */
export function stripTrailingSlash(file: string): string {
  if (file.length > 1 && (file.endsWith('/') || file.endsWith('\\'))) return file.slice(0, -1);
  return file;
}

/** Remote paths are POSIX: backslashes become slashes, one trailing slash goes. */
export function normalizeRemotePath(file: string): string {
  return stripTrailingSlash(file.replaceAll('\\', '/'));
}

/** What tar does to a member name: leading `/` and `\` removed. */
export function stripLeadingSlashes(file: string): string {
  return file.replace(/^[/\\]+/, '');
}

/** Removes leading `../` (and a lone `.` or `..`, and then one leading `/`), as kubectl's stripPathShortcuts. */
export function stripPathShortcuts(p: string): string {
  let out = p;
  while (out.startsWith('../')) out = out.slice(3);
  if (out === '.' || out === '..') out = '';
  return out.startsWith('/') ? out.slice(1) : out;
}

/** A remote path cleaned (POSIX `path.normalize` without the trailing slash, `.` for empty). */
export function cleanRemote(p: string): string {
  const n = posix.normalize(normalizeRemotePath(p));
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/**
 * The prefix every member of `tar cf - <remote>` carries: the path without leading slashes,
 * cleaned, without leading `../` (tar strips those too). '' for the root.
 */
export function tarPrefix(remote: string): string {
  return stripPathShortcuts(cleanRemote(stripLeadingSlashes(normalizeRemotePath(remote))));
}

/**
 * Whether `target` lies inside `base` (or is `base`): kubectl's isRelative, on the client's own
 * path rules. Compare canonical absolute paths to make it meaningful (CVE-2019-11249).
 */
export function isInside(base: string, target: string, path: { relative(a: string, b: string): string; isAbsolute(p: string): boolean; sep: string } = posix): boolean {
  const rel = path.relative(base, target);
  if (rel === '') return true;
  if (path.isAbsolute(rel)) return false;
  return rel !== '..' && !rel.startsWith(`..${path.sep}`) && !rel.startsWith('../');
}

/** Where an upload lands: `dest/basename(src)` when dest is an existing directory (kubectl's `test -d` probe), else `dest`. */
export function uploadTarget(localSource: string, remoteDest: string, destIsDirectory: boolean, localBasename: (p: string) => string): string {
  const dest = cleanRemote(remoteDest);
  return destIsDirectory ? posix.join(dest, localBasename(localSource)) : dest;
}
