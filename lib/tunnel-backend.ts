import { ApiObject, JsonPatch, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';
import { IConstruct } from 'constructs';
import { throwInvalid } from './errors';

/** Calico's pod annotation listing the source prefixes a pod may send from besides its own address. */
export const CALICO_ALLOWED_SOURCE_PREFIXES = 'cni.projectcalico.org/allowedSourcePrefixes';

/** The IPIP header IPVS adds in TUN mode (IPv4 in IPv4). */
const IPIP_OVERHEAD = 20;

/**
 * What the init container runs (POSIX sh; besides the shell's builtins only `ip`, from iproute2 in
 * the LB image), with the VIPs as `/32` in its arguments. Idempotent, since the kubelet runs init
 * containers again when it recreates the pod sandbox:
 * - tunl0 (the ipip module's fallback device, in every network namespace once the module is loaded)
 *   up with every VIP, so the decapsulated packet is local and the reply leaves from the VIP;
 * - every IPv4 route through the pod's interface gets an MTU 20 bytes below the interface's, so the
 *   MSS the backend advertises leaves room for the LB's IPIP header. The interface keeps its MTU: a
 *   veth drops what exceeds its receiver's MTU, and the encapsulated packets arrive at full size;
 * - strict rp_filter stops the pod: the kernel drops a packet arriving on tunl0 whose source is
 *   routed via eth0. A new network namespace inherits the node's net.ipv4.conf.all and .default
 *   (net.core.devconf_inherit_init_net = 0), and /proc/sys is read-only in a container, so only the
 *   pod's sysctls can change it (`relaxBackendReversePathFilter`).
 */
export const TUNNEL_BACKEND_SCRIPT = `set -euf
fail() { echo "prepare-tunnel-backend: $*" >&2; exit 1; }
ip link show dev tunl0 >/dev/null 2>&1 || fail "this pod's network namespace has no tunl0: load the ipip module on the node (/etc/modules-load.d) before the pod starts"
for conf in all tunl0; do
  # sysctl files end at offset 1 for dash's byte-wise read: it gets the digit but no newline, and returns 1.
  value=; read -r value < "/proc/sys/net/ipv4/conf/$conf/rp_filter" || [ -n "$value" ] || fail "cannot read net.ipv4.conf.$conf.rp_filter"
  [ "$value" != 1 ] || fail "net.ipv4.conf.$conf.rp_filter is 1 (strict, inherited from the node): tunnelled packets would be dropped. Fix: relaxBackendReversePathFilter: true on the LoadBalancerService, or rp_filter 2 on the node"
done
ip link set dev tunl0 up
for vip in "$@"; do ip addr replace "$vip" dev tunl0; done
set -- $(ip -o -4 route show default)
dev=
while [ $# -gt 1 ]; do [ "$1" = dev ] && dev=$2; shift; done
[ -n "$dev" ] || fail "no IPv4 default route"
set -- $(ip -o link show dev "$dev")
mtu=
while [ $# -gt 1 ]; do [ "$1" = mtu ] && mtu=$2; shift; done
[ -n "$mtu" ] || fail "no MTU on $dev"
ip -o -4 route show dev "$dev" | while read -r route; do
  set -- $route
  kept=
  while [ $# -gt 0 ]; do
    case $1 in
      mtu) shift 2 ;;
      linkdown|dead) shift ;; # state flags ip prints but does not take
      *) kept="$kept $1"; shift ;;
    esac
  done
  ip route change $kept dev "$dev" mtu $((mtu - ${IPIP_OVERHEAD}))
done
`;

/** The programs the script runs besides the shell's builtins (scripts/build-images.sh checks them in the LB image). */
export const TUNNEL_BACKEND_PROGRAMS = ['sh', 'ip'];

/** The pod sysctls of `relaxBackendReversePathFilter`: loose mode (2) on `all` and tunl0; the effective value is the larger of the two. */
export const RELAXED_REVERSE_PATH_FILTER: kplus.Sysctl[] = [
  { name: 'net.ipv4.conf.all.rp_filter', value: '2' },
  { name: 'net.ipv4.conf.tunl0.rp_filter', value: '2' },
];

/** What a LoadBalancerService asks of the workload it prepares. */
export interface TunnelBackendOptions {
  /** Name of the init container, unique per service. */
  readonly containerName: string;
  /** The LB image (iproute2). */
  readonly image: string;
  /** Every VIP of the service (IPv4). */
  readonly vips: string[];
  readonly calicoAllowedSourcePrefixes: boolean;
  readonly relaxReversePathFilter: boolean;
}

/** Source prefixes already granted per workload, so that two services on one workload share one annotation. */
const allowedSources = new WeakMap<kplus.Workload, string[]>();
const relaxedWorkloads = new WeakSet<kplus.Workload>();

/**
 * Prepares `workload`'s pod template for IPVS TUN forwarding: an init container with NET_ADMIN (as
 * root: a pod spec gives effective capabilities to uid 0 only), and on request Calico's source
 * annotation and the relaxed rp_filter sysctls. `scope` names the LoadBalancerService in errors.
 */
export function prepareTunnelBackend(scope: IConstruct, field: string, workload: kplus.Workload, options: TunnelBackendOptions): void {
  const prefixes = options.vips.map(vip => `${vip}/32`);
  workload.addInitContainer({
    name: options.containerName,
    image: options.image,
    imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
    command: ['sh', '-c', TUNNEL_BACKEND_SCRIPT],
    args: ['prepare-tunnel-backend', ...prefixes],
    resources: { cpu: { request: kplus.Cpu.millis(10) }, memory: { request: Size.mebibytes(16), limit: Size.mebibytes(64) } },
    securityContext: {
      ensureNonRoot: false,
      user: 0,
      group: 0,
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      // Kubernetes' names, without CAP_: this cdk8s-plus-27's enum spells them "CAP_NET_ADMIN" (which
      // containerd prefixes again) and has no ALL (fixed upstream in cdk8s-plus #4267 and #4064).
      capabilities: { drop: ['ALL' as kplus.Capability], add: ['NET_ADMIN' as kplus.Capability] },
    },
  });
  if (options.calicoAllowedSourcePrefixes) {
    const granted = [...(allowedSources.get(workload) ?? []), ...prefixes];
    allowedSources.set(workload, granted);
    // addAnnotation replaces: the value lists the VIPs of every service prepared on this workload so far.
    workload.podMetadata.addAnnotation(CALICO_ALLOWED_SOURCE_PREFIXES, JSON.stringify(granted));
  }
  if (options.relaxReversePathFilter && !relaxedWorkloads.has(workload)) {
    relaxedWorkloads.add(workload);
    const own = workload.securityContext.sysctls;
    const clash = own.find(s => RELAXED_REVERSE_PATH_FILTER.some(r => r.name === s.name));
    if (clash) {
      throwInvalid(scope, field, `${clash.name}=${clash.value}`, `is set on workload ${workload.node.path}, which relaxBackendReversePathFilter also sets`, 'remove the sysctl from the workload, or set relaxBackendReversePathFilter: false');
    }
    // Escape hatch: cdk8s-plus-27 takes pod sysctls only in the workload's constructor props (no add method).
    const sysctls = `${workload instanceof kplus.CronJob ? '/spec/jobTemplate/spec' : ''}/spec/template/spec/securityContext/sysctls`;
    const patches = own.length === 0
      ? [JsonPatch.add(sysctls, RELAXED_REVERSE_PATH_FILTER)]
      : RELAXED_REVERSE_PATH_FILTER.map(s => JsonPatch.add(`${sysctls}/-`, s));
    ApiObject.of(workload).addJsonPatch(...patches);
  }
}
