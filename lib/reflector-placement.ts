import { ImageSource } from './images';

/** What an in-cluster route reflector needs beyond the common reflector options. */
export interface InClusterReflectorOptions {
  /**
   * The node the reflector pod is pinned to (its `kubernetes.io/hostname` label). Its IP is the
   * reflector's `address`: the source the router sees once the CNI has SNATed the pod's connection.
   */
  readonly nodeName: string;
  /**
   * Registry, tag and digests of the images (see ImageSource).
   * @default the enclosing EcmpTopology's, then the EcmpApp's, then `cdk8s-ecmp-lb/<image>:<library version>`
   */
  readonly images?: ImageSource;
  /**
   * Full reference of the gobgpd image, overriding `images`.
   * @default from `images`
   */
  readonly image?: string;
  /**
   * Full reference of the reflector agent's image (`ecmp-lb reflector-agent`: the LB image),
   * overriding `images`.
   * @default from `images`
   */
  readonly agentImage?: string;
  /**
   * A NetworkPolicy that lets only LB pods (label `ecmp-lb.cdk8s.io/role=lb`, any namespace) reach
   * the reflector's BGP port, and lets the reflector connect only to the routers' BGP port. Needs a
   * CNI that enforces NetworkPolicy.
   * @default false
   */
  readonly networkPolicy?: boolean;
}

/**
 * Where a route reflector runs: `ReflectorPlacement.standalone()` or
 * `ReflectorPlacement.inCluster({ nodeName })`. The options of an in-cluster reflector come with
 * its placement, so a standalone one cannot be given them.
 */
export class ReflectorPlacement {
  /**
   * A Linux box outside Kubernetes (the paper's). Its config is written to
   * `route-reflectors/<name>/`; LB pods must reach it without SNAT (see docs/design.md).
   */
  public static standalone(): ReflectorPlacement {
    return new ReflectorPlacement();
  }

  /**
   * A gobgpd pod in the cluster's pod network, pinned to one node; LB pods reach it through a
   * ClusterIP Service, so their connections are never SNATed.
   */
  public static inCluster(options: InClusterReflectorOptions): ReflectorPlacement {
    return new ReflectorPlacement(options);
  }

  /** The in-cluster reflector's options; undefined for a standalone one. */
  public readonly inClusterOptions?: InClusterReflectorOptions;

  private constructor(inClusterOptions?: InClusterReflectorOptions) {
    this.inClusterOptions = inClusterOptions;
  }

  /** Whether the reflector runs as a pod in the cluster. */
  public get isInCluster(): boolean {
    return this.inClusterOptions !== undefined;
  }

  /** `standalone` or `in-cluster`, as TOPOLOGY.md names it. */
  public get name(): string {
    return this.isInCluster ? 'in-cluster' : 'standalone';
  }
}
