import { Chart, ChartProps, Duration, JsonPatch } from 'cdk8s';
import { Construct } from 'constructs';
import { BgpPassword } from './bgp-password';
import { throwInvalid } from './errors';
import { ImageSource, setImageSource } from './images';
import { RouteReflector, RouteReflectorOptions } from './route-reflector';
import { UpstreamRouterConfig, UpstreamRouterOptions } from './upstream-router-config';
import { checkName, checkNamespace } from './validate';
import * as k8s from '../imports/k8s';

/** Props of an {@link EcmpTopology}. */
export interface EcmpTopologyProps extends ChartProps {
  /** AS number of the whole iBGP topology. */
  readonly asn: number;
  /** Pod network prefixes LB pods connect from. */
  readonly podNetworks: string[];
  /**
   * The route reflectors; every LB pod peers with each. Each one's name (default `rr1`, `rr2`, ...) is its construct id.
   */
  readonly routeReflectors: RouteReflectorOptions[];
  /**
   * The upstream routers; each peers with every reflector. Each one's name (default `router1`, ...) is its construct id.
   */
  readonly upstreamRouters: UpstreamRouterOptions[];
  /**
   * Hold time of every BGP session.
   * @default Duration.seconds(9)
   */
  readonly holdTime?: Duration;
  /**
   * Keepalive interval of every BGP session.
   * @default a third of the hold time
   */
  readonly keepaliveInterval?: Duration;
  /**
   * Create the chart's namespace. It is labelled for the `privileged` Pod Security level, which
   * the LB pods (CAP_NET_ADMIN) and the node route agent (host network) need.
   * @default true when `namespace` is set
   */
  readonly createNamespace?: boolean;
  /**
   * Accept from LB pods only the services' prefixes, exact length, with a per-session prefix limit
   * (every reflector; see RouteReflectorProps.filterPrefixes).
   * @default true
   */
  readonly filterPrefixes?: boolean;
  /**
   * Accept each service's prefixes only from its own LB pods (every reflector; see
   * RouteReflectorProps.bindPrefixesToLbPods).
   * @default true for gobgpd reflectors
   */
  readonly bindPrefixesToLbPods?: boolean;
  /**
   * TCP-MD5 key of every reflector's sessions (see RouteReflectorProps.bgpPassword).
   * @default no TCP-MD5
   */
  readonly bgpPassword?: BgpPassword;
  /**
   * Registry, tag and digests of the images of every construct in this chart (see ImageSource).
   * @default the EcmpApp's, then `cdk8s-ecmp-lb/<image>:<library version>`
   */
  readonly images?: ImageSource;
}

/**
 * The BGP fabric of an ECMP load-balancer topology in one chart: route reflectors and upstream
 * routers, wired to each other. Add services with `new LoadBalancerService(topology, 'web', { ... })`:
 * they peer with the topology's reflectors.
 */
export class EcmpTopology extends Chart {
  public readonly routeReflectors: RouteReflector[];
  public readonly upstreamRouters: UpstreamRouterConfig[];

  constructor(scope: Construct, id: string, props: EcmpTopologyProps) {
    super(scope, id, props);
    checkNamespace(this);
    setImageSource(this, 'images', props.images);
    if (props.namespace && (props.createNamespace ?? true)) {
      const namespace = new k8s.KubeNamespace(this, 'Namespace', {
        metadata: {
          name: props.namespace,
          // Baseline forbids NET_ADMIN and host networking; every pod here still drops all other capabilities.
          labels: { 'pod-security.kubernetes.io/enforce': 'privileged', 'pod-security.kubernetes.io/warn': 'restricted' },
        },
      });
      // A Namespace is cluster-scoped: drop the namespace the chart stamps on every object.
      namespace.addJsonPatch(JsonPatch.remove('/metadata/namespace'));
    }
    // Names become construct ids in this chart: check them before any construct is created.
    const reflectors = (props.routeReflectors ?? []).map((spec, i) => ({ ...spec, name: spec?.name ?? `rr${i + 1}` }));
    const routers = (props.upstreamRouters ?? []).map((spec, i) => ({ ...spec, name: spec?.name ?? `router${i + 1}` }));
    const seen = new Map<string, string>();
    const named: [string, { name: string }[]][] = [['routeReflectors', reflectors], ['upstreamRouters', routers]];
    for (const [list, entries] of named) {
      entries.forEach((spec, i) => {
        const field = `${list}[${i}].name`;
        checkName(this, field, spec.name);
        const other = seen.get(spec.name);
        if (other) throwInvalid(this, field, spec.name, `is also the name of ${other}`, 'give every route reflector and upstream router its own name (they share the chart\'s construct ids and output folders)');
        seen.set(spec.name, field);
      });
    }
    const timers = { holdTime: props.holdTime, keepaliveInterval: props.keepaliveInterval };
    this.routeReflectors = reflectors.map(spec => new RouteReflector(this, spec.name, {
      ...spec,
      ...timers,
      asn: props.asn,
      podNetworks: props.podNetworks,
      filterPrefixes: props.filterPrefixes,
      bindPrefixesToLbPods: props.bindPrefixesToLbPods,
      bgpPassword: props.bgpPassword,
    }));
    this.upstreamRouters = routers.map(spec => new UpstreamRouterConfig(this, spec.name, {
      ...spec, ...timers, routeReflectors: this.routeReflectors,
    }));
  }
}
