import { ForwardingMethod, HealthCheckType, LoadBalancerServiceModel, Protocol } from '../../lib/model';
import { EndpointSlice } from '../src/endpoint-slices';

/** A service model in the test range 198.18.0.0/15. */
export function serviceModel(overrides: Partial<LoadBalancerServiceModel> = {}): LoadBalancerServiceModel {
  return {
    name: 'web',
    namespace: 'shop',
    prefixes: ['198.19.10.0/24'],
    vips: ['198.19.10.1'],
    ports: [{ port: 80, backendPort: 8080, protocol: Protocol.TCP }],
    scheduler: 'mh',
    forwardingMethod: ForwardingMethod.NAT,
    healthCheck: { type: HealthCheckType.TCP, intervalSeconds: 2, timeoutSeconds: 1, retries: 2, httpPath: '/', httpExpectStatus: 200 },
    backendServiceName: 'web-backend',
    asn: 65000,
    timers: { holdTimeSeconds: 9, keepaliveSeconds: 3, connectRetrySeconds: 1 },
    reflectors: [{ name: 'rr0', host: '198.18.0.1', port: 179 }],
    drainSeconds: 2,
    ...overrides,
  };
}

export interface TestEndpoint {
  address: string;
  ready?: boolean;
  terminating?: boolean;
}

/** An EndpointSlice as the API serves it. */
export function slice(
  name: string,
  endpoints: TestEndpoint[],
  options: { port?: number; protocol?: string; addressType?: string; resourceVersion?: string } = {},
): EndpointSlice & { kind: string; apiVersion: string } {
  return {
    kind: 'EndpointSlice',
    apiVersion: 'discovery.k8s.io/v1',
    metadata: { name, namespace: 'shop', resourceVersion: options.resourceVersion ?? '1', labels: { 'kubernetes.io/service-name': 'web-backend' } } as any,
    addressType: options.addressType ?? 'IPv4',
    endpoints: endpoints.map((e) => ({
      addresses: [e.address],
      conditions: { ready: e.ready ?? true, serving: e.ready ?? true, terminating: e.terminating ?? false },
    })),
    ports: [{ name: 'http', port: options.port ?? 8080, protocol: options.protocol ?? 'TCP' }],
  };
}
