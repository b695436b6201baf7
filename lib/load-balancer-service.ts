import { Chart, Duration, JsonPatch } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { Backends } from './backends';
import { EcmpTopology } from './ecmp-topology';
import { throwInvalid } from './errors';
import { ImageName, imageReference, ImageSource } from './images';
import { addressValue, Cidr, cidrContains, cidrRange, firstHostAddress, parseAddress, specialPurpose } from './ip';
import { LB_POD_FILES } from './lb-pod-contract';
import { lbPodTemplate } from './lb-pod-template';
import {
  ForwardingMethod, HealthCheckModel, HealthCheckType, LB_ROLE_LABEL, LB_SERVICE_LABEL, LoadBalancerServiceModel, Protocol, RouteAttributesModel,
  ServicePortModel,
} from './model';
import { NodeRouteAgent } from './node-route-agent';
import { checkObjectNamesOnce } from './object-names';
import { grantRead } from './rbac';
import { renderAnnouncer } from './renderers/announcer';
import { communityProblem, largeCommunityProblem, metricProblem } from './route-attributes';
import { ILoadBalancerService, IRouteReflector } from './topology-interfaces';
import { podNetworkCidrs, registerService, serviceTopologyErrors } from './topology-validation';
import { prepareTunnelBackend } from './tunnel-backend';
import {
  BgpTimers, checkAsn, checkCidr, checkCount, checkLabels, checkName, checkNamespace, checkNonEmpty, checkPort, checkResources, checkTimers,
  firstWithSameKey,
} from './validate';
import * as k8s from '../imports/k8s';

/** Communities of one kind per service: enough for any policy, and a bounded announce line. */
const MAX_COMMUNITIES = 32;

/** IPVS schedulers (`ipvsadm -s`). */
export enum IpvsScheduler {
  ROUND_ROBIN = 'rr',
  WEIGHTED_ROUND_ROBIN = 'wrr',
  LEAST_CONNECTION = 'lc',
  WEIGHTED_LEAST_CONNECTION = 'wlc',
  SOURCE_HASHING = 'sh',
  DESTINATION_HASHING = 'dh',
  /** Maglev hashing: every LB pod picks the same backend for a flow, so ECMP reshuffles hurt least. */
  MAGLEV_HASHING = 'mh',
}

/** One port of a load-balanced service. */
export interface ServicePort {
  /** Port clients connect to on the VIPs. */
  readonly port: number;
  /**
   * Port on the backend pods.
   * @default the same as `port`
   */
  readonly backendPort?: number;
  /**
   * Transport protocol.
   * @default Protocol.TCP
   */
  readonly protocol?: Protocol;
}

/** How keepalived checks every backend. */
export interface HealthCheck {
  /**
   * TCP connect or HTTP GET, against each backend port.
   * @default HealthCheckType.TCP
   */
  readonly type?: HealthCheckType;
  /**
   * Time between checks.
   * @default Duration.seconds(2)
   */
  readonly interval?: Duration;
  /**
   * Time before one check fails.
   * @default Duration.seconds(1)
   */
  readonly timeout?: Duration;
  /**
   * Retries after a failed check: a backend is taken out after `retries + 1` failures in a row.
   * @default 1
   */
  readonly retries?: number;
  /**
   * HTTP only: the path to GET.
   * @default '/'
   */
  readonly httpPath?: string;
  /**
   * HTTP only: the status that counts as healthy.
   * @default 200
   */
  readonly httpExpectStatus?: number;
}

/** Props of a {@link LoadBalancerService}. */
export interface LoadBalancerServiceProps extends BgpTimers {
  /** The prefixes the LB pods announce (IPv4 or IPv6 CIDR); the node routes them to the LB pod. */
  readonly prefixes: string[];
  /** The ports served on every VIP. */
  readonly ports: ServicePort[];
  /** The pods traffic is balanced over. */
  readonly backends: Backends;
  /**
   * Route reflectors every LB pod peers with.
   * @default the reflectors of the enclosing EcmpTopology (required elsewhere)
   */
  readonly routeReflectors?: IRouteReflector[];
  /**
   * Name for the Kubernetes objects (`<name>-lb`, ...).
   * @default the construct id
   */
  readonly name?: string;
  /**
   * Addresses inside `prefixes` that IPVS serves.
   * @default the first host address of each prefix
   */
  readonly vips?: string[];
  /**
   * Number of LB pods, each on its own node: one ECMP path each.
   * @default 2
   */
  readonly lbCount?: number;
  /**
   * IPVS scheduler.
   * @default IpvsScheduler.MAGLEV_HASHING
   */
  readonly scheduler?: IpvsScheduler;
  /**
   * IPVS forwarding method. NAT needs nothing from the backends. With TUNNEL the backend pods need
   * the VIPs on tunl0, a smaller MSS and a relaxed reverse-path filter: the service adds an init
   * container doing that to the pod template of `Backends.fromWorkload`; other backends must be
   * prepared by hand (`backendsPreparedByHand`). DIRECT_ROUTING is only prepared by hand.
   * @default ForwardingMethod.NAT (TUN cannot be the default: whether the CNI lets a pod send from
   * a VIP, which Calico refuses unless told, is not known at synth time)
   */
  readonly forwardingMethod?: ForwardingMethod;
  /**
   * DR or TUN forwarding: the backend pods are set up by their owner (docs/design.md lists what
   * they need), so the service neither changes a workload nor requires `Backends.fromWorkload`.
   * Required for DR, which the service cannot prepare.
   * @default false (TUN: the service prepares the workload of `Backends.fromWorkload`)
   */
  readonly backendsPreparedByHand?: boolean;
  /**
   * TUN, on backends the service prepares: annotate their pods with Calico's
   * `cni.projectcalico.org/allowedSourcePrefixes` listing the VIPs as /32, so Felix lets the
   * replies, which leave the pod from a VIP, through. Takes effect only with
   * `workloadSourceSpoofing: Any` in Calico's FelixConfiguration; without both, Calico drops them.
   * @default false
   */
  readonly calicoAllowedSourcePrefixes?: boolean;
  /**
   * TUN, on backends the service prepares: set the pods' sysctls `net.ipv4.conf.all.rp_filter`
   * and `net.ipv4.conf.tunl0.rp_filter` to 2 (loose). Needed where the nodes have strict
   * rp_filter (1; Calico wants `all` at 0 or 1): a pod's network namespace inherits it, and the
   * kernel drops a tunnelled packet whose client is routed via eth0, not tunl0. Unsafe sysctls:
   * the backend nodes' kubelet must allow both (`--allowed-unsafe-sysctls`). Without it the init
   * container stops the pod, saying so, when it finds strict rp_filter.
   * @default false
   */
  readonly relaxBackendReversePathFilter?: boolean;
  /**
   * Backend health check.
   * @default TCP connect every 2 s, 1 s timeout, 1 retry (a dead backend goes after ~4 s)
   */
  readonly healthCheck?: HealthCheck;
  /**
   * AS number; iBGP, so it must be the reflectors' AS.
   * @default the reflectors' AS
   */
  readonly asn?: number;
  /**
   * BGP communities (RFC 1997) on the service's routes, `ASN:VALUE` with each part 0..65535
   * (well-known ones by number: NO_EXPORT is `65535:65281`). The reflectors keep them, so a router
   * can act on them (a route map, a BIRD filter).
   * @default none
   */
  readonly communities?: string[];
  /**
   * BGP large communities (RFC 8092) on the service's routes, `GLOBAL:LOCAL1:LOCAL2` with each part
   * 0..4294967295; kept by the reflectors as `communities` are.
   * @default none
   */
  readonly largeCommunities?: string[];
  /**
   * LOCAL_PREF on the service's routes (0..4294967295), for routers in the cluster's AS. Every LB
   * pod of the service sends the same, so a router still installs one ECMP route over them.
   * @default not sent: the router's own default (100)
   */
  readonly localPreference?: number;
  /**
   * MED on the service's routes (0..4294967295); the same from every LB pod of the service.
   * @default not sent
   */
  readonly med?: number;
  /**
   * How long a stopping LB pod keeps serving after withdrawing its route.
   * @default Duration.seconds(10)
   */
  readonly drainTimeout?: Duration;
  /**
   * Registry, tag and digests of the images (see ImageSource).
   * @default the enclosing EcmpTopology's, then the EcmpApp's, then `cdk8s-ecmp-lb/<image>:<library version>`
   */
  readonly images?: ImageSource;
  /**
   * Full reference of the LB image (init, controller and node agent), overriding `images`.
   * @default from `images`
   */
  readonly image?: string;
  /**
   * Full reference of the exabgp image, overriding `images`.
   * @default from `images`
   */
  readonly exabgpImage?: string;
  /**
   * Resources of the IPVS container.
   * @default requests 100m CPU / 64Mi, limit 256Mi memory
   */
  readonly resources?: k8s.ResourceRequirements;
  /**
   * Only nodes with these labels run LB pods (the nodes the upstream router can reach).
   * @default any node
   */
  readonly nodeSelector?: { [key: string]: string };
  /**
   * Tolerations of the LB pods.
   * @default none
   */
  readonly tolerations?: k8s.Toleration[];
  /**
   * Let the IPVS container load kernel modules (`ip_vs`, `ip_vs_mh`, `nf_conntrack`, ...) itself:
   * adds `CAP_SYS_MODULE` and mounts the node's `/lib/modules` read-only. Off by default because
   * CAP_SYS_MODULE lets the container load any module into the node's kernel, which is full
   * control of the node; preload the modules on LB nodes instead
   * (`/etc/modules-load.d/ipvs.conf`, see docs/security.md).
   * @default false
   */
  readonly loadKernelModules?: boolean;
}

/**
 * One load-balanced service: a Deployment of LB pods (IPVS via keepalived plus the controller, and
 * exabgp announcing the service prefixes with the node as next hop), its RBAC, ConfigMap,
 * PodDisruptionBudget and backend Service, and the node routing that delivers the prefixes to it.
 */
export class LoadBalancerService extends Construct implements ILoadBalancerService {
  public readonly serviceName: string;
  public readonly namespace: string;
  public readonly lbCount: number;
  public readonly prefixes: string[];
  public readonly vips: string[];
  public readonly routeReflectors: IRouteReflector[];
  /** The typed model stored in the ConfigMap for the LB pods. */
  public readonly model: LoadBalancerServiceModel;
  /** DR or TUN backends that their owner sets up (`backendsPreparedByHand`). */
  public readonly backendsPreparedByHand: boolean;
  /** The init container this service added to its TUN backends' workload, when it prepares them. */
  public readonly tunnelInitContainer?: string;
  /** The workload whose pod template this service prepared for TUN. */
  public readonly preparedWorkload?: string;
  /**
   * Whether it announces IPv6 prefixes over IPv4 reflector sessions (dual-stack, or IPv6 only in an
   * IPv4 topology): those take the node's IPv6 address as next hop, which the LB controller reads
   * from its Node object.
   */
  public readonly dualStack: boolean;
  private readonly prefixCidrs: Cidr[];

  constructor(scope: Construct, id: string, props: LoadBalancerServiceProps) {
    super(scope, id);
    this.serviceName = checkName(this, 'name', props.name ?? id);
    this.namespace = checkNamespace(this);
    const chart: Chart = Chart.of(this);
    const reflectors = props.routeReflectors ?? (chart instanceof EcmpTopology ? (chart as EcmpTopology).routeReflectors : undefined);
    this.routeReflectors = [...checkNonEmpty(this, 'routeReflectors', reflectors, 'pass at least one RouteReflector (two give redundancy), or create the service inside an EcmpTopology')];
    this.prefixCidrs = checkNonEmpty(this, 'prefixes', props.prefixes, 'list the prefix(es) to announce, e.g. ["10.1.1.0/24"]')
      .map((p, i) => this.checkPrefix(p, i));
    this.prefixes = this.prefixCidrs.map(c => c.text);
    this.vips = this.checkVips(props.vips);
    this.dualStack = this.checkFamilies();
    this.lbCount = checkCount(this, 'lbCount', props.lbCount ?? 2, 1, 255, 'run at least 1 LB pod (2 or more for redundancy), at most 255 (the most paths BGP add-paths passes on here)');
    const forwardingMethod = props.forwardingMethod ?? ForwardingMethod.NAT;
    if (!Object.values(ForwardingMethod).includes(forwardingMethod)) {
      throwInvalid(this, 'forwardingMethod', forwardingMethod, 'is not a forwarding method', 'use ForwardingMethod.NAT, ForwardingMethod.DIRECT_ROUTING or ForwardingMethod.TUNNEL');
    }
    const scheduler = props.scheduler ?? IpvsScheduler.MAGLEV_HASHING;
    if (!Object.values(IpvsScheduler).includes(scheduler)) {
      throwInvalid(this, 'scheduler', scheduler, 'is not an IPVS scheduler', 'use one of IpvsScheduler, e.g. IpvsScheduler.MAGLEV_HASHING');
    }
    const ports = checkNonEmpty(this, 'ports', props.ports, 'list the ports to serve, e.g. [{ port: 80 }]').map((p, i) => this.checkPort(p, i, forwardingMethod));
    firstWithSameKey(ports, p => `${p.protocol}/${p.port}`).forEach((first, i) => {
      const port = ports[i];
      if (first !== i) throwInvalid(this, `ports[${i}]`, `${port.protocol}/${port.port}`, `repeats ports[${first}] (one IPVS virtual service per VIP, protocol and port)`, 'list each port and protocol once');
    });
    const backendServiceName = this.checkBackends(props.backends, ports);
    const reflector = this.routeReflectors[0];
    const asn = checkAsn(this, 'asn', props.asn ?? reflector.asn);
    const drainSeconds = checkCount(this, 'drainTimeout', props.drainTimeout?.toSeconds({ integral: false }) ?? 10, 0, 3600, 'use a whole number of seconds up to Duration.hours(1)');

    this.model = {
      name: this.serviceName,
      namespace: this.namespace,
      prefixes: this.prefixes,
      vips: this.vips,
      ports,
      scheduler,
      forwardingMethod,
      healthCheck: this.checkHealthCheck(props.healthCheck ?? {}, ports),
      backendServiceName,
      asn,
      timers: checkTimers(this, props, reflector.timers),
      reflectors: this.routeReflectors.map(r => r.lbPeer),
      drainSeconds,
      // Only when the reflectors sign LB sessions; absent otherwise, so older models read the same.
      ...(reflector.bgpPassword?.signLoadBalancerSessions ? { signBgpSessions: true } : {}),
      ...this.checkRouteAttributes(props),
    };
    for (const r of this.routeReflectors) r.addLoadBalancerService(this);
    registerService(this);

    const nodeSelector = checkLabels(this, 'nodeSelector', props.nodeSelector);
    checkResources(this, 'resources', props.resources);
    const image = imageReference(this, ImageName.LB, props.images, { field: 'image', value: props.image });
    const exabgpImage = imageReference(this, ImageName.EXABGP, props.images, { field: 'exabgpImage', value: props.exabgpImage });
    NodeRouteAgent.of(this, { image }).watchNamespace(this.namespace);
    this.backendsPreparedByHand = props.backendsPreparedByHand ?? false;
    const workload = this.checkBackendPreparation(props);
    if (workload) {
      this.tunnelInitContainer = `${this.serviceName}-tunnel`;
      this.preparedWorkload = workload.node.path;
      prepareTunnelBackend(this, 'relaxBackendReversePathFilter', workload, {
        containerName: this.tunnelInitContainer, image, vips: this.vips,
        calicoAllowedSourcePrefixes: props.calicoAllowedSourcePrefixes ?? false,
        relaxReversePathFilter: props.relaxBackendReversePathFilter ?? false,
      });
    }
    this.manifests({ ...props, nodeSelector }, image, exabgpImage);
    checkObjectNamesOnce(this);
    this.node.addValidation({ validate: () => serviceTopologyErrors(this, this.routeReflectors, this.model.asn) });
  }

  /**
   * The reflector sessions are of one family, their addresses' (an LB pod opens them all from its
   * pod address of that family); exabgp announces each prefix with its node's address of the
   * prefix's family as next hop, carried over those sessions by MP-BGP. IPv6 prefixes over IPv4
   * sessions are supported (the node's IPv6 address comes from its Node object, since Kubernetes 1.27
   * gives the pod `status.hostIP` in one family only); IPv4 prefixes over IPv6 sessions are not.
   * Every prefix family needs a pod network of its family: the backend pods, and the LB pod's own
   * address of that family (SNAT, the node's route to it). Returns whether the service is dual-stack.
   */
  private checkFamilies(): boolean {
    const familyOf = (address: string): 4 | 6 => (address.includes(':') ? 6 : 4);
    const first = this.routeReflectors[0];
    const sessionFamily = familyOf(first.address);
    const other = this.routeReflectors.find(r => familyOf(r.address) !== sessionFamily);
    if (other) {
      throwInvalid(this, 'routeReflectors', this.routeReflectors.map(r => r.reflectorName), `mix address families ('${first.reflectorName}' at ${first.address}, '${other.reflectorName}' at ${other.address}); an LB pod opens every reflector session from its pod address of one family`,
        'give every reflector of the service an address of one family (IPv4 sessions carry IPv6 prefixes too)');
    }
    const families = new Set(this.prefixCidrs.map(c => c.family));
    if (sessionFamily === 6 && families.has(4)) {
      throwInvalid(this, 'prefixes', this.prefixes, `include IPv4, but route reflector '${first.reflectorName}' is at the IPv6 address ${first.address}: IPv4 prefixes are announced over IPv4 sessions only (IPv4 sessions carry IPv6 prefixes, not the other way round)`,
        'serve the IPv4 prefixes through reflectors at IPv4 addresses (the service may keep its IPv6 prefixes there too), or announce IPv6 prefixes only');
    }
    const podNetworks = podNetworkCidrs(this, this.routeReflectors);
    for (const family of [...families].sort()) {
      if (!podNetworks.some(c => c.family === family)) {
        throwInvalid(this, 'prefixes', this.prefixes.filter(p => familyOf(p) === family), `are IPv${family}, but the reflectors' pod networks have no IPv${family} prefix for the backend pods and the LB pods' IPv${family} addresses`, `add the cluster's IPv${family} pod network to podNetworks`);
      }
    }
    return sessionFamily === 4 && families.has(6);
  }

  private checkPrefix(text: string, i: number): Cidr {
    const cidr = checkCidr(this, `prefixes[${i}]`, text);
    const special = specialPurpose(cidr);
    if (special) {
      throwInvalid(this, `prefixes[${i}]`, cidr.text, `overlaps ${special}, which no router forwards to a service`, 'announce a unicast prefix of your own, e.g. from your provider-independent or private space');
    }
    return cidr;
  }

  private checkVips(vips: string[] | undefined): string[] {
    if (vips === undefined) return this.prefixCidrs.map(firstHostAddress);
    checkNonEmpty(this, 'vips', vips, 'leave vips unset to serve the first address of each prefix, or list addresses inside the prefixes');
    const checked = vips.map((text, i) => {
      const address = parseAddress(text);
      if (!address) throwInvalid(this, `vips[${i}]`, text, 'is not an IP address', 'write a literal address such as "10.1.1.1"');
      const prefix = this.prefixCidrs.find(c => cidrContains(c, address));
      if (!prefix) {
        throwInvalid(this, `vips[${i}]`, text, `is outside the announced prefixes ${this.prefixes.join(', ')}`, 'pick an address inside one of the prefixes, or add its prefix');
      }
      const bits = prefix.family === 4 ? 32 : 128;
      // The network address (IPv6: the subnet-router anycast address) and IPv4's broadcast address are not host addresses.
      const { start, end } = cidrRange(prefix);
      const value = addressValue(address);
      if (prefix.length < bits - 1 && (value === start || (prefix.family === 4 && value === end))) {
        throwInvalid(this, `vips[${i}]`, text, `is the ${value === start ? 'network' : 'broadcast'} address of ${prefix.text}`, `use a host address such as ${firstHostAddress(prefix)}`);
      }
      return address.toString();
    });
    firstWithSameKey(checked, vip => vip).forEach((first, i) => {
      if (first !== i) throwInvalid(this, `vips[${i}]`, checked[i], `repeats vips[${first}]`, 'list each VIP once');
    });
    return checked;
  }

  private checkPort(port: ServicePort, i: number, forwardingMethod: ForwardingMethod): ServicePortModel {
    const protocol = port.protocol ?? Protocol.TCP;
    if (!Object.values(Protocol).includes(protocol)) {
      throwInvalid(this, `ports[${i}].protocol`, protocol, 'is not a supported protocol', 'use Protocol.TCP or Protocol.UDP');
    }
    const model = {
      port: checkPort(this, `ports[${i}].port`, port.port),
      backendPort: checkPort(this, `ports[${i}].backendPort`, port.backendPort ?? port.port),
      protocol,
    };
    // DR and TUN forward the packet unchanged: the backend receives it on the VIP's port.
    if (forwardingMethod !== ForwardingMethod.NAT && model.backendPort !== model.port) {
      throwInvalid(this, `ports[${i}].backendPort`, model.backendPort, `differs from port ${model.port}, which ${forwardingMethod} forwarding cannot remap`, `set backendPort to ${model.port}, or use ForwardingMethod.NAT`);
    }
    return model;
  }

  /**
   * Who sets the backends up for DR/TUN: the workload this service must prepare, or undefined
   * (NAT, or prepared by hand). Refuses what it cannot prepare and options that would be ignored.
   */
  private checkBackendPreparation(props: LoadBalancerServiceProps): kplus.Workload | undefined {
    const method = this.model.forwardingMethod;
    const byHand = this.backendsPreparedByHand;
    if (method === ForwardingMethod.NAT && byHand) {
      throwInvalid(this, 'backendsPreparedByHand', true, 'applies to DR and TUN forwarding; NAT needs nothing from the backends', 'remove it, or set forwardingMethod to ForwardingMethod.TUNNEL or DIRECT_ROUTING');
    }
    if (method === ForwardingMethod.DIRECT_ROUTING && !byHand) {
      throwInvalid(this, 'forwardingMethod', method, 'needs backends the service cannot prepare (the VIPs on lo with arp_ignore and arp_announce, unsafe pod sysctls, and every LB pod on one layer-2 segment with the backends)',
        'set the backend pods up by hand (docs/design.md) and set backendsPreparedByHand: true, or use ForwardingMethod.TUNNEL with Backends.fromWorkload(workload)');
    }
    const prepared = method === ForwardingMethod.TUNNEL && !byHand;
    if (prepared && props.backends.workload === undefined) {
      const what = props.backends.serviceName !== undefined ? `Service ${props.backends.serviceName}` : props.backends.selector;
      throwInvalid(this, 'backends', what, 'cannot be prepared for TUN forwarding: the service holds no pod template to add the tunnel set-up to (tunl0 with the VIPs, MSS, rp_filter)',
        'use Backends.fromWorkload(workload), or set the backend pods up by hand (docs/design.md) and set backendsPreparedByHand: true');
    }
    if (prepared && this.prefixCidrs.some(c => c.family === 6)) {
      throwInvalid(this, 'prefixes', this.prefixes, 'include IPv6: the service prepares IPv4 tunnel backends only (IPv6 tunnels arrive on ip6tnl0 and add 40 bytes)',
        'set the backend pods up by hand and set backendsPreparedByHand: true, or use ForwardingMethod.NAT');
    }
    for (const field of ['calicoAllowedSourcePrefixes', 'relaxBackendReversePathFilter'] as const) {
      if (props[field] && !prepared) {
        throwInvalid(this, field, true, 'applies only to TUN backends the service prepares (ForwardingMethod.TUNNEL with Backends.fromWorkload, not backendsPreparedByHand)', 'remove it, or let the service prepare the backends');
      }
    }
    return prepared ? props.backends.workload : undefined;
  }

  /** Returns the name of the Service whose EndpointSlices list the backends. */
  private checkBackends(backends: Backends, ports: ServicePortModel[]): string {
    if (!(backends instanceof Backends)) {
      throwInvalid(this, 'backends', backends, 'is not a Backends', 'use Backends.fromLabels({...}), Backends.fromWorkload(deployment) or Backends.fromService(service)');
    }
    if (backends.namespace !== undefined && backends.namespace !== this.namespace) {
      throwInvalid(this, 'backends', backends.namespace, `is in another namespace than the LB pods (${this.namespace})`, 'define the backends in the same namespace (the LB controller may only read its own)');
    }
    if (backends.serviceName !== undefined) return backends.serviceName;
    const selector = checkLabels(this, 'backends', backends.selector) ?? {};
    if (Object.keys(selector).length === 0) {
      throwInvalid(this, 'backends', selector, 'is an empty selector, which would select every pod in the namespace', 'select the backend pods by at least one label, e.g. Backends.fromLabels({ app: "web" })');
    }
    const name = `${this.serviceName}-backends`;
    // Headless: it exists only so that Kubernetes maintains EndpointSlices with readiness for the controller.
    new k8s.KubeService(this, 'BackendService', {
      metadata: { name },
      spec: {
        clusterIp: 'None',
        selector,
        ports: uniqueBackendPorts(ports).map(p => ({
          name: `${p.protocol.toLowerCase()}-${p.backendPort}`, port: p.backendPort, targetPort: k8s.IntOrString.fromNumber(p.backendPort), protocol: p.protocol,
        })),
      },
    });
    return name;
  }

  /** `{ routeAttributes }` when any attribute is set; `{}` otherwise, so a service without them reads as before. */
  private checkRouteAttributes(props: LoadBalancerServiceProps): { routeAttributes?: RouteAttributesModel } {
    const listOf = (field: 'communities' | 'largeCommunities', problemOf: (text: unknown) => string | undefined, example: string): string[] => {
      const list = props[field] ?? [];
      if (!Array.isArray(list) || list.length > MAX_COMMUNITIES) {
        throwInvalid(this, field, list, `is not a list of at most ${MAX_COMMUNITIES}`, `list each as a string, e.g. ["${example}"]`);
      }
      list.forEach((text, i) => {
        const problem = problemOf(text);
        if (problem) throwInvalid(this, `${field}[${i}]`, text, problem, `write it as "${example}"`);
      });
      firstWithSameKey(list, c => c).forEach((first, i) => {
        if (first !== i) throwInvalid(this, `${field}[${i}]`, list[i], `repeats ${field}[${first}]`, 'list each once');
      });
      return [...list];
    };
    /** `{ [field]: value }` when set, `{}` when not. */
    const metric = (field: 'localPreference' | 'med'): { [field: string]: number } => {
      const value = props[field];
      if (value === undefined) return {};
      const problem = metricProblem(value);
      if (problem) throwInvalid(this, field, value, problem, `use an integer in 0..4294967295, or leave ${field} unset`);
      return { [field]: value };
    };
    const attributes: RouteAttributesModel = {
      communities: listOf('communities', communityProblem, '65021:100'),
      largeCommunities: listOf('largeCommunities', largeCommunityProblem, '65021:1:100'),
      ...metric('localPreference'),
      ...metric('med'),
    };
    const set = attributes.communities.length > 0 || attributes.largeCommunities.length > 0
      || attributes.localPreference !== undefined || attributes.med !== undefined;
    return set ? { routeAttributes: attributes } : {};
  }

  private checkHealthCheck(check: HealthCheck, ports: ServicePortModel[]): HealthCheckModel {
    const type = check.type ?? HealthCheckType.TCP;
    if (!Object.values(HealthCheckType).includes(type)) {
      throwInvalid(this, 'healthCheck.type', type, 'is not a supported check', 'use HealthCheckType.TCP or HealthCheckType.HTTP');
    }
    if (type === HealthCheckType.HTTP && ports.some(p => p.protocol !== Protocol.TCP)) {
      throwInvalid(this, 'healthCheck.type', type, 'cannot check a UDP port', 'use HealthCheckType.TCP (a UDP probe for UDP ports), or serve UDP from another LoadBalancerService');
    }
    const httpPath = check.httpPath ?? '/';
    if (!/^\/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$/.test(httpPath)) {
      throwInvalid(this, 'healthCheck.httpPath', httpPath, 'is not a URL path', 'start with "/" and use URL characters only (percent-encode the rest)');
    }
    const intervalSeconds = checkCount(this, 'healthCheck.interval', check.interval?.toSeconds({ integral: false }) ?? 2, 1, 3600, 'use whole seconds, e.g. Duration.seconds(2)');
    const timeoutSeconds = checkCount(this, 'healthCheck.timeout', check.timeout?.toSeconds({ integral: false }) ?? 1, 1, 3600, 'use whole seconds, e.g. Duration.seconds(1)');
    if (timeoutSeconds >= intervalSeconds) {
      // keepalived would start a check while the last one still runs: failures are counted late.
      throwInvalid(this, 'healthCheck.timeout', `${timeoutSeconds}s`, `is not shorter than the interval (${intervalSeconds}s)`, `use a timeout below ${intervalSeconds}s, or a longer interval`);
    }
    return {
      type,
      intervalSeconds,
      timeoutSeconds,
      retries: checkCount(this, 'healthCheck.retries', check.retries ?? 1, 0, 100, 'use 0..100'),
      httpPath,
      httpExpectStatus: checkCount(this, 'healthCheck.httpExpectStatus', check.httpExpectStatus ?? 200, 100, 599, 'use an HTTP status such as 200'),
    };
  }

  /** The ClusterRole and its binding that let a dual-stack service's controller `get` Nodes (see nodeReaderName). */
  private grantNodeRead(lbName: string): void {
    const name = nodeReaderName(this, lbName);
    const role = new k8s.KubeClusterRole(this, 'NodeReader', {
      metadata: { name },
      rules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['get'] }],
    });
    // Cluster-scoped: drop the namespace the chart stamps on every object.
    role.addJsonPatch(JsonPatch.remove('/metadata/namespace'));
    const binding = new k8s.KubeClusterRoleBinding(this, 'NodeReaderBinding', {
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.name },
      subjects: [{ kind: 'ServiceAccount', name: lbName, namespace: this.namespace }],
    });
    binding.addJsonPatch(JsonPatch.remove('/metadata/namespace'));
  }

  /** The LB pods' Deployment (the child `Resource`), their RBAC, ConfigMap and PodDisruptionBudget. */
  private manifests(props: LoadBalancerServiceProps, image: string, exabgpImage: string): void {
    const name = `${this.serviceName}-lb`;
    const labels = { 'app.kubernetes.io/name': 'ecmp-lb', [LB_SERVICE_LABEL]: this.serviceName, [LB_ROLE_LABEL]: 'lb' };

    new k8s.KubeServiceAccount(this, 'ServiceAccount', { metadata: { name } });
    // The controller reads the backends' EndpointSlices, nothing else.
    grantRead(this, 'Role', 'RoleBinding', {
      name,
      apiGroup: 'discovery.k8s.io',
      resources: ['endpointslices'],
      serviceAccount: { name, namespace: this.namespace },
    });
    if (this.dualStack) this.grantNodeRead(name);
    const config = new k8s.KubeConfigMap(this, 'Config', {
      metadata: { name },
      data: {
        [LB_POD_FILES.model]: `${JSON.stringify(this.model, undefined, 2)}\n`,
        [LB_POD_FILES.announcer]: renderAnnouncer(),
      },
    });
    new k8s.KubePodDisruptionBudget(this, 'Budget', {
      metadata: { name },
      spec: { maxUnavailable: k8s.IntOrString.fromNumber(1), selector: { matchLabels: labels } },
    });
    new k8s.KubeDeployment(this, 'Resource', {
      metadata: { name, labels },
      spec: {
        replicas: this.lbCount,
        // No surge: with one LB pod per node a surge pod may have no node to go to.
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: k8s.IntOrString.fromNumber(0), maxUnavailable: k8s.IntOrString.fromNumber(1) } },
        selector: { matchLabels: labels },
        template: lbPodTemplate({
          model: this.model,
          labels,
          serviceAccountName: name,
          configMap: config.name,
          image,
          exabgpImage,
          bgpPassword: this.routeReflectors[0].bgpPassword,
          loadKernelModules: props.loadKernelModules ?? false,
          dualStack: this.dualStack,
          resources: props.resources,
          nodeSelector: props.nodeSelector,
          tolerations: props.tolerations,
        }),
      },
    });
  }
}

/**
 * A dual-stack service's controller reads its own Node (by `spec.nodeName`) for the node's IPv6
 * address, its next hop for the IPv6 prefixes: `get` on nodes, nothing else (no list, no watch, no
 * write). Nodes are cluster-scoped, so this is the one ClusterRole of the library; RBAC cannot
 * narrow it to the pod's own node (resourceNames are fixed at synth time). A Node holds no secret:
 * its addresses, labels, capacity and conditions.
 */
function nodeReaderName(service: LoadBalancerService, lbName: string): string {
  return `${service.namespace}-${lbName}-node-reader`;
}

/** Each backend port once, whatever service ports map onto it. */
function uniqueBackendPorts(ports: ServicePortModel[]): ServicePortModel[] {
  const seen = new Map<string, ServicePortModel>();
  for (const p of ports) seen.set(`${p.protocol}/${p.backendPort}`, p);
  return [...seen.values()].sort((a, b) => a.backendPort - b.backendPort || a.protocol.localeCompare(b.protocol));
}
