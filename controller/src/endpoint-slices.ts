/**
 * The subset of discovery.k8s.io/v1 EndpointSlice the controller reads. Declared here rather than
 * imported so the pure logic does not depend on the ESM-only client at load time.
 */
export interface EndpointConditions {
  readonly ready?: boolean | null;
  readonly serving?: boolean | null;
  readonly terminating?: boolean | null;
}

export interface Endpoint {
  readonly addresses: string[];
  readonly conditions?: EndpointConditions | null;
  readonly nodeName?: string | null;
}

export interface EndpointPort {
  readonly name?: string | null;
  readonly port?: number | null;
  readonly protocol?: string | null;
}

export interface EndpointSlice {
  readonly metadata?: { readonly name?: string; readonly namespace?: string; readonly resourceVersion?: string };
  readonly addressType: string;
  readonly endpoints?: Endpoint[] | null;
  readonly ports?: EndpointPort[] | null;
}
