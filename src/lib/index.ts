// The podshell library: `import { Cluster } from 'podshell'`.
export { Cluster } from './cluster.ts';
export * from '../exec/index.ts';
export * from '../kube/index.ts';
export * from '../transfer/index.ts';
export { PodshellError, type Status, type Subprotocol } from '../protocol/index.ts';
export { parsePortSpec, PortSpecError, type PortMapping } from '../protocol/index.ts';
