// The kube layer: reaching a cluster (kubeconfig, in-cluster, every auth method through
// @kubernetes/client-node, TLS, proxies), small REST calls, and kubectl's pod target resolution.

export { ApiStatusError, ConfigError, ConnectError, TargetError, apiStatusCode, apiStatusError, connectError, parseStatus } from './errors.ts';
export { KubeClient } from './client.ts';
export { kubeconfigContexts } from './contexts.ts';
export type { KubeconfigContext } from './contexts.ts';
export type { InClusterOptions, KubeconfigOptions, RequestOptions } from './client.ts';
export type { Impersonation } from './headers.ts';
export { MAX_RESPONSE_BYTES, tlsOptions } from './transport.ts';
export type { ConnectOptions, TlsOptions } from './transport.ts';
export { DEFAULT_PLUGIN_TIMEOUT_MS } from './exec-plugin.ts';
export {
  DEFAULT_CONTAINER_ANNOTATION,
  allContainerNames,
  checkNotCompleted,
  chooseContainer,
  compareActivity,
  labelSelectorString,
  mostActivePod,
  parseTarget,
  resolveSessionTarget,
  resourceKinds,
} from './targets.ts';
export type { ResolvedTarget, ResolveOptions, ResourceKind, Target, TargetSource, TypeName } from './targets.ts';
export type { Container, LabelSelector, ObjectMeta, Pod } from './types.ts';
export { MAX_WATCH_LINE_BYTES, listNamespaceNames, listPodsAt, watchPods } from './listing.ts';
export type { PodListing, PodWatchEvent, WatchPodsOptions } from './listing.ts';
export { DEFAULT_MAX_LOG_REQUESTS, LogStream, MAX_LOG_LINE_BYTES, parseDuration, streamLogs } from './logs.ts';
export type { LogLine, LogSource, LogsOptions } from './logs.ts';
