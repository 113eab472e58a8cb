// Which pod port each port spec means, as kubectl decides it: a named remote port is looked up
// among the pod's container ports, and a service's port is translated to its target port
// (for `svc/NAME`). The result is plain `[LOCAL:]REMOTE` specs with numbers.

import { parsePortSpec, type PortMapping } from '../protocol/index.ts';
import { TargetError, type Pod } from '../kube/index.ts';

/** What port-forward reads of a Service. */
export interface ServicePorts {
  name: string;
  /** `None` for a headless service: its ports are the pods' own. */
  clusterIP?: string;
  ports: { name?: string; port: number; targetPort?: number | string }[];
}

/** Go's strconv.Atoi accepts an optional sign. */
const isNumber = (text: string) => /^[+-]?[0-9]+$/.test(text);

/** `[LOCAL:]REMOTE` split as kubectl splits it; a spec without a colon is both. */
function splitSpec(spec: string): [string, string] {
  const parts = spec.split(':');
  return parts.length === 2 ? [parts[0]!, parts[1]!] : [parts[0]!, parts[0]!];
}

/**
 * Check a spec's form before any lookup: numbers as `parsePortSpec` wants them, except that the
 * remote port may be a name (resolved later against the pod or the service).
 * @throws PortSpecError ERR_PORT_SPEC
 */
export function validatePortSpec(spec: string): void {
  const parts = spec.split(':');
  if (parts.length > 2 || isNumber(parts[parts.length - 1]!)) {
    parsePortSpec(spec);
    return;
  }
  // A named remote port: the local part, when given, must still be a port.
  parsePortSpec(parts.length === 2 ? `${parts[0]}:1` : '1');
}

function containerPortByName(pod: Pod, name: string): number {
  for (const container of pod.spec.containers) {
    const ports = Array.isArray(container['ports']) ? (container['ports'] as unknown[]) : [];
    for (const p of ports) {
      const port = p as { name?: unknown; containerPort?: unknown };
      if (port.name === name && typeof port.containerPort === 'number') return port.containerPort;
    }
  }
  throw new TargetError(`pod '${pod.metadata.name}' does not have a named port '${name}'`);
}

/** The pod port behind a service port (kubectl's rules: headless, omitted or named targetPort). */
function targetPortOf(service: ServicePorts, pod: Pod, port: number): number {
  for (const spec of service.ports) {
    if (spec.port !== port) continue;
    if (service.clusterIP === 'None') return port;
    if (typeof spec.targetPort === 'string') return containerPortByName(pod, spec.targetPort);
    return spec.targetPort || spec.port;
  }
  throw new TargetError(`service ${service.name} does not have a service port ${port}`);
}

function translateForService(spec: string, service: ServicePorts, pod: Pod): string {
  let [local, remote] = splitSpec(spec);
  let port: number;
  if (isNumber(remote)) port = Number(remote);
  else {
    const named = service.ports.find((p) => p.name === remote);
    if (!named) throw new TargetError(`service '${service.name}' does not have a named port '${remote}'`);
    port = named.port;
    if (local === remote) local = String(port);
  }
  if (port < 0 || port > 65535) throw new TargetError(`port ${spec} is not a valid port number`);
  const target = String(targetPortOf(service, pod, port));
  return local !== target ? `${local}:${target}` : target;
}

function translateForPod(spec: string, pod: Pod): string {
  const [local, remote] = splitSpec(spec);
  if (isNumber(remote)) return spec;
  const port = String(containerPortByName(pod, remote));
  return local !== remote ? `${local}:${port}` : port;
}

/**
 * The port mappings of `specs` on `pod`, reached directly or through `service`.
 * @throws PortSpecError ERR_PORT_SPEC; TargetError ERR_TARGET for a port the pod or service does not have
 */
export function resolvePortSpecs(specs: readonly string[], pod: Pod, service?: ServicePorts): PortMapping[] {
  return specs.map((spec) => {
    if (spec.split(':').length > 2) return parsePortSpec(spec);
    return parsePortSpec(service ? translateForService(spec, service, pod) : translateForPod(spec, pod));
  });
}

/** The fields port-forward needs of a Service answer; anything else in it is ignored. */
export function asServicePorts(name: string, body: unknown): ServicePorts {
  const spec = (body as { spec?: { clusterIP?: unknown; ports?: unknown } } | null)?.spec;
  const ports = Array.isArray(spec?.ports) ? spec.ports : [];
  return {
    name,
    ...(typeof spec?.clusterIP === 'string' ? { clusterIP: spec.clusterIP } : {}),
    ports: ports
      .map((p) => p as { name?: unknown; port?: unknown; targetPort?: unknown })
      .filter((p) => typeof p.port === 'number')
      .map((p) => ({
        ...(typeof p.name === 'string' ? { name: p.name } : {}),
        port: p.port as number,
        ...(typeof p.targetPort === 'number' || typeof p.targetPort === 'string' ? { targetPort: p.targetPort } : {}),
      })),
  };
}
