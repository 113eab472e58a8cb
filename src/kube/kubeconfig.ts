// Loading kubeconfig files, the way kubectl reads them, into
// the entries @kubernetes/client-node's KubeConfig works with (see config.ts for why not into a
// KubeConfig itself):
// - KUBECONFIG lists files (':' on Unix); missing ones are skipped; for clusters, users and
//   contexts the first file to define a name wins, and so does the first current-context.
//   (KubeConfig.loadFromDefault throws on duplicate names and lets the *last* current-context
//   win, so the merge is done here, one file at a time, each read as KubeConfig.loadFromFile reads it.)
// - Relative paths resolve against the file that holds them (loadFromFile does it for
//   certificate files; here also for `tokenFile` and for an exec plugin command containing '/').
// - User fields client-node does not read are taken from the YAML here: `tokenFile` (kubectl's
//   spelling; client-node only knows `token-file`, read once at load), `as-groups`, `as-uid`,
//   `as-user-extra`.

import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { CORE_SCHEMA, load as loadYaml, mergeTag } from 'js-yaml';
import { Kubeconfig, parseEntries, type Cluster, type Context, type User } from './config.ts';
import { ConfigError } from './errors.ts';

/** What client-node's User lacks, from the same kubeconfig entry. */
export interface UserExtras {
  /** Absolute path of `tokenFile`; re-read for every connection. */
  tokenFile?: string;
  /** `as-groups`. */
  asGroups?: string[];
  /** `as-uid`. */
  asUid?: string;
  /** `as-user-extra`. */
  asUserExtra?: Record<string, string[]>;
}

export interface LoadedKubeconfig {
  kc: Kubeconfig;
  /** The files that were read, in order. */
  files: string[];
  /** How messages name the configuration: a path, or several joined with the path delimiter. */
  source: string;
  users: Map<string, UserExtras>;
  /** Clusters that were dropped as invalid (e.g. no server), by name. */
  invalidClusters: Map<string, string>;
}

const KUBECONFIG_SCHEMA = CORE_SCHEMA.withTags(mergeTag);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function readKubeconfigText(file: string, optional: boolean): string | undefined {
  try {
    if (statSync(file).isDirectory()) throw new ConfigError('ERR_KUBECONFIG', `cannot read kubeconfig ${file}: it is a directory`);
    return readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && optional) return undefined;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new ConfigError('ERR_KUBECONFIG', `cannot read kubeconfig ${file}: ${reason}`, { cause: err });
  }
}

function stringList(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((v) => typeof v === 'string') ? (value as string[]) : undefined;
}

function userExtras(raw: Obj, dir: string): UserExtras {
  const extras: UserExtras = {};
  if (typeof raw['tokenFile'] === 'string' && raw['tokenFile']) extras.tokenFile = resolve(dir, raw['tokenFile']);
  const groups = stringList(raw['as-groups']);
  if (groups?.length) extras.asGroups = groups;
  if (typeof raw['as-uid'] === 'string' && raw['as-uid']) extras.asUid = raw['as-uid'];
  if (isObj(raw['as-user-extra'])) {
    const extra: Record<string, string[]> = {};
    for (const [key, values] of Object.entries(raw['as-user-extra'])) {
      const list = stringList(values) ?? (typeof values === 'string' ? [values] : undefined);
      if (list) extra[key] = list;
    }
    if (Object.keys(extra).length) extras.asUserExtra = extra;
  }
  return extras;
}

interface OneFile {
  clusters: Cluster[];
  users: User[];
  contexts: Context[];
  currentContext?: string;
  extras: Map<string, UserExtras>;
  invalidClusters: Map<string, string>;
}

function loadOne(file: string, text: string): OneFile {
  let raw: unknown;
  try {
    // js-yaml, the parser client-node's loadFromFile uses, plus `<<` merge keys, which Go's YAML
    // (kubectl) reads and js-yaml's default schema leaves out.
    raw = loadYaml(text, { schema: KUBECONFIG_SCHEMA });
  } catch (err) {
    throw new ConfigError('ERR_KUBECONFIG', `invalid kubeconfig ${file}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  const empty: OneFile = { clusters: [], users: [], contexts: [], extras: new Map(), invalidClusters: new Map() };
  if (raw === null || raw === undefined) return empty;
  if (!isObj(raw)) throw new ConfigError('ERR_KUBECONFIG', `invalid kubeconfig ${file}: expected a mapping with clusters, users and contexts, found ${Array.isArray(raw) ? 'a list' : typeof raw}`);

  const dir = dirname(file);
  let entries: ReturnType<typeof parseEntries>;
  try {
    // FILTER: a broken entry this command does not use must not stop it (kubectl only
    // validates what the chosen context needs).
    entries = parseEntries(raw, dir);
  } catch (err) {
    throw new ConfigError('ERR_KUBECONFIG', `invalid kubeconfig ${file}: ${(err as Error).message}`, { cause: err });
  }
  const extras = new Map<string, UserExtras>();
  for (const entry of Array.isArray(raw['users']) ? raw['users'] : []) {
    if (!isObj(entry) || typeof entry['name'] !== 'string' || !isObj(entry['user'])) continue;
    if (!extras.has(entry['name'])) extras.set(entry['name'], userExtras(entry['user'], dir));
  }
  for (const user of entries.users) {
    const exec = user.exec as { command?: unknown; apiVersion?: unknown; env?: unknown } | undefined;
    if (!exec) continue;
    // client-go resolves an exec command holding a path separator against the kubeconfig's folder.
    if (typeof exec.command === 'string' && exec.command.includes('/') && !isAbsolute(exec.command)) exec.command = join(dir, exec.command);
    // client-go always tells the plugin which ExecCredential version it wants; some plugins
    // (e.g. aws-iam-authenticator) answer in an older version without it.
    const env = Array.isArray(exec.env) ? (exec.env as { name?: unknown }[]) : [];
    if (typeof exec.apiVersion === 'string' && !env.some((e) => e?.name === 'KUBERNETES_EXEC_INFO')) {
      exec.env = [...env, { name: 'KUBERNETES_EXEC_INFO', value: JSON.stringify({ kind: 'ExecCredential', apiVersion: exec.apiVersion, spec: { interactive: false } }) }];
    }
  }
  const invalidClusters = new Map<string, string>();
  const valid = new Set(entries.clusters.map((c) => c.name));
  for (const entry of Array.isArray(raw['clusters']) ? raw['clusters'] : []) {
    if (!isObj(entry) || typeof entry['name'] !== 'string' || valid.has(entry['name'])) continue;
    invalidClusters.set(entry['name'], isObj(entry['cluster']) ? 'it has no server' : 'it has no cluster entry');
  }
  const current = raw['current-context'];
  return {
    clusters: entries.clusters,
    users: entries.users,
    contexts: entries.contexts,
    ...(typeof current === 'string' && current ? { currentContext: current } : {}),
    extras,
    invalidClusters,
  };
}

/**
 * Read the kubeconfig as kubectl would: `path` alone when given, else every file in KUBECONFIG
 * (merged), else ~/.kube/config. Throws ConfigError (ERR_KUBECONFIG).
 */
export function loadKubeconfig(path: string | undefined, vars: NodeJS.ProcessEnv = process.env): LoadedKubeconfig {
  let candidates: { file: string; optional: boolean }[];
  let source: string;
  if (path) {
    const file = resolve(path);
    candidates = [{ file, optional: false }];
    source = file;
  } else if (vars['KUBECONFIG']) {
    const files = vars['KUBECONFIG'].split(delimiter).filter(Boolean).map((f) => resolve(f));
    candidates = files.map((file) => ({ file, optional: files.length > 1 }));
    source = files.join(delimiter);
  } else {
    const home = vars['HOME'] || homedir();
    const file = join(home, '.kube', 'config');
    candidates = [{ file, optional: false }];
    source = file;
  }

  const merged: OneFile = { clusters: [], users: [], contexts: [], extras: new Map(), invalidClusters: new Map() };
  const files: string[] = [];
  const seen = new Set<string>();
  for (const { file, optional } of candidates) {
    if (seen.has(file)) continue;
    seen.add(file);
    const text = readKubeconfigText(file, optional);
    if (text === undefined) continue;
    files.push(file);
    const one = loadOne(file, text);
    const firstWins = <T extends { name: string }>(into: T[], from: T[]) => {
      for (const item of from) if (!into.some((i) => i.name === item.name)) into.push(item);
    };
    firstWins(merged.clusters, one.clusters);
    firstWins(merged.users, one.users);
    firstWins(merged.contexts, one.contexts);
    for (const [name, extras] of one.extras) if (!merged.extras.has(name)) merged.extras.set(name, extras);
    for (const [name, reason] of one.invalidClusters) if (!merged.invalidClusters.has(name)) merged.invalidClusters.set(name, reason);
    merged.currentContext ??= one.currentContext;
  }
  if (files.length === 0) {
    throw new ConfigError('ERR_KUBECONFIG', `cannot read kubeconfig: none of the files in KUBECONFIG exists (${source})`);
  }
  const kc = new Kubeconfig(merged.clusters, merged.users, merged.contexts, merged.currentContext);
  return { kc, files, source, users: merged.extras, invalidClusters: merged.invalidClusters };
}

/**
 * Point `loaded.kc` at `context` (default: its current-context) and check that the context can be
 * used: it exists, and so do its cluster (with a server) and user. Throws ConfigError.
 */
export function selectContext(loaded: LoadedKubeconfig, context: string | undefined): { context: Context; cluster: Cluster; user?: User } {
  const { kc, source } = loaded;
  const names = kc.getContexts().map((c) => c.name);
  const available = names.length ? `available contexts: ${names.join(', ')}` : 'it defines no contexts';
  const name = context || kc.getCurrentContext();
  if (!name) throw new ConfigError('ERR_KUBECONFIG', `no context chosen: kubeconfig ${source} sets no current-context (${available})`);
  const ctx = kc.getContexts().find((c) => c.name === name);
  if (!ctx) throw new ConfigError('ERR_KUBECONFIG', `context "${name}" does not exist in kubeconfig ${source} (${available})`);
  kc.setCurrentContext(name);
  const cluster = kc.getCurrentCluster();
  if (!cluster) {
    const invalid = loaded.invalidClusters.get(ctx.cluster);
    throw new ConfigError(
      'ERR_KUBECONFIG',
      invalid
        ? `cluster "${ctx.cluster}" of context "${name}" cannot be used: ${invalid} (kubeconfig ${source})`
        : `cluster "${ctx.cluster}" was not found for context "${name}" in kubeconfig ${source}`,
    );
  }
  const user = kc.getCurrentUser();
  if (ctx.user && !user) throw new ConfigError('ERR_KUBECONFIG', `user "${ctx.user}" was not found for context "${name}" in kubeconfig ${source}`);
  return { context: ctx, cluster, ...(user ? { user } : {}) };
}
