import * as kplus from 'cdk8s-plus-27';

/**
 * The pods an LB service balances over. The LB controller follows them through the EndpointSlices
 * of a Kubernetes Service: for label selectors and workloads the LoadBalancerService creates a
 * headless one; an existing Service is used as it is.
 */
export class Backends {
  /** Pods carrying all of these labels, in the LB service's namespace. */
  public static fromLabels(labels: { [key: string]: string }): Backends {
    return new Backends({ ...labels }, undefined, undefined, undefined);
  }

  /**
   * The pods of a cdk8s-plus workload (Deployment, StatefulSet, ...). With TUN forwarding the
   * LoadBalancerService prepares its pod template (see `LoadBalancerServiceProps.forwardingMethod`).
   */
  public static fromWorkload(workload: kplus.Workload): Backends {
    return new Backends(workload.matchLabels, undefined, workload.metadata.namespace, workload);
  }

  /** The endpoints of an existing Service; its ports' target ports must be the backend ports. */
  public static fromService(service: kplus.Service): Backends {
    return new Backends(undefined, service.name, service.metadata.namespace, undefined);
  }

  private constructor(
    /** Labels selecting the backend pods; undefined when an existing Service is used. */
    public readonly selector: { [key: string]: string } | undefined,
    /** The existing Service whose EndpointSlices list the backends. */
    public readonly serviceName: string | undefined,
    /** Namespace of the workload or Service, when it has one. */
    public readonly namespace: string | undefined,
    /** The workload, when the app defines the backends: its pod template can be prepared for TUN. */
    public readonly workload: kplus.Workload | undefined,
  ) {}
}
