// Defaulting: the fields the apiserver fills in when a manifest leaves them out
// (the core/v1, apps/v1 and batch/v1 defaulting, and the admission plugins a default cluster
// runs). Each function fills in the object it is given, in the apiserver's order.

import type { ContainerSpec, PodSpec, Workload } from './types.ts';

/** The one node the sandbox pretends to have. */
export const nodeName = 'sandbox';

function imagePullPolicy(image: string | undefined): string {
  if (!image) return 'IfNotPresent';
  if (image.includes('@')) return 'IfNotPresent';
  const lastSlash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  const tag = colon > lastSlash ? image.slice(colon + 1) : 'latest';
  return tag === 'latest' ? 'Always' : 'IfNotPresent';
}

function defaultContainer(c: ContainerSpec): void {
  c.imagePullPolicy ??= imagePullPolicy(c.image);
  c.resources ??= {};
  c.terminationMessagePath ??= '/dev/termination-log';
  c.terminationMessagePolicy ??= 'File';
}

/** Defaults every pod spec gets, in pods and in pod templates alike. */
export function defaultPodSpec(spec: PodSpec): void {
  for (const c of spec.initContainers ?? []) defaultContainer(c);
  for (const c of spec.containers) defaultContainer(c);
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.restartPolicy ??= 'Always';
  spec.schedulerName ??= 'default-scheduler';
  spec.securityContext ??= {};
  spec.terminationGracePeriodSeconds ??= 30;
}

/** What a pod (not a template) gets besides: service account, scheduling, tolerations. */
export function defaultPodOnly(spec: PodSpec): void {
  defaultPodSpec(spec);
  spec.enableServiceLinks ??= true;
  spec.nodeName ||= nodeName;
  spec.preemptionPolicy ??= 'PreemptLowerPriority';
  spec.priority ??= 0;
  spec.serviceAccountName ??= (spec['serviceAccount'] as string | undefined) ?? 'default';
  spec.serviceAccount ??= spec.serviceAccountName;
  spec.tolerations ??= [
    { effect: 'NoExecute', key: 'node.kubernetes.io/not-ready', operator: 'Exists', tolerationSeconds: 300 },
    { effect: 'NoExecute', key: 'node.kubernetes.io/unreachable', operator: 'Exists', tolerationSeconds: 300 },
  ];
}


type WorkloadSpec = Workload['spec'];

export function defaultDeployment(spec: WorkloadSpec): void {
  spec.replicas ??= 1;
  spec.revisionHistoryLimit ??= 10;
  spec.progressDeadlineSeconds ??= 600;
  spec['strategy'] ??= { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } };
  defaultPodSpec(spec.template!.spec);
}

export function defaultReplicaSet(spec: WorkloadSpec): void {
  spec.replicas ??= 1;
  defaultPodSpec(spec.template!.spec);
}

export function defaultStatefulSet(spec: WorkloadSpec): void {
  spec.replicas ??= 1;
  spec['podManagementPolicy'] ??= 'OrderedReady';
  spec['updateStrategy'] ??= { type: 'RollingUpdate', rollingUpdate: { partition: 0 } };
  spec.revisionHistoryLimit ??= 10;
  spec['persistentVolumeClaimRetentionPolicy'] ??= { whenDeleted: 'Retain', whenScaled: 'Retain' };
  defaultPodSpec(spec.template!.spec);
}

export function defaultDaemonSet(spec: WorkloadSpec): void {
  spec['updateStrategy'] ??= { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } };
  spec.revisionHistoryLimit ??= 10;
  defaultPodSpec(spec.template!.spec);
}

export function defaultJob(spec: WorkloadSpec): void {
  spec['backoffLimit'] ??= 6;
  spec['completionMode'] ??= 'NonIndexed';
  spec['completions'] ??= 1;
  spec['parallelism'] ??= 1;
  spec['podReplacementPolicy'] ??= 'TerminatingOrFailed';
  spec['suspend'] ??= false;
  defaultPodSpec(spec.template!.spec);
}
