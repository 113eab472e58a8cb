// The kube layer: reaching a cluster (kubeconfig, in-cluster, every auth method through
// @kubernetes/client-node, TLS, proxies), small REST calls, and kubectl's pod target resolution.

export { ApiStatusError, ConfigError, ConnectError, TargetError, apiStatusCode, apiStatusError, connectError, parseStatus } from './errors.ts';
export { KubeClient } from './client.ts';
export type { ConnectOptions, Impersonation, InClusterOptions, KubeconfigOptions, RequestOptions, ResolveOptions } from './client.ts';
export {
  DEFAULT_CONTAINER_ANNOTATION,
  allContainerNames,
  checkNotCompleted,
  chooseContainer,
  compareActivity,
  labelSelectorString,
  mostActivePod,
  parseTarget,
  resourceKinds,
} from './targets.ts';
export type { ResolvedTarget, ResourceKind, Target, TypeName } from './targets.ts';
export type { Container, LabelSelector, ObjectMeta, Pod } from './types.ts';
