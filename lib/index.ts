// The public API: constructs, their props, enums and the interfaces they take or expose, nothing else.
// jsii publishes only these; the renderers, checks and model constants are the library's own.
export { EcmpApp } from './ecmp-app';
export type { EcmpAppProps, RenderedFile } from './ecmp-app';
export { EcmpTopology } from './ecmp-topology';
export type { EcmpTopologyProps } from './ecmp-topology';
export { ReflectorDaemon, RouteReflector } from './route-reflector';
export type { RouteReflectorOptions, RouteReflectorProps } from './route-reflector';
export { UpstreamRouterConfig } from './upstream-router-config';
export type { UpstreamRouterConfigProps, UpstreamRouterOptions } from './upstream-router-config';
export { IpvsScheduler, LoadBalancerService } from './load-balancer-service';
export type { HealthCheck, LoadBalancerServiceProps, ServicePort } from './load-balancer-service';
export { NodeRouteAgent } from './node-route-agent';
export type { NodeRouteAgentProps } from './node-route-agent';
export { Backends } from './backends';
export type { BgpPassword } from './bgp-password';
export type { BgpTimers } from './validate';
export { ImageName } from './images';
export type { ImageSource } from './images';
export { ReflectorPlacement } from './reflector-placement';
export type { InClusterReflectorOptions } from './reflector-placement';
export type { ILoadBalancerService, IRouteReflector, IUpstreamRouter } from './topology-interfaces';
export { AddressFamily, ForwardingMethod, HealthCheckType, Protocol, RouterDaemon } from './model';
// The typed config model the constructs expose (`model`): what the renderers take.
export type {
  BfdModel, BgpNeighborModel, BgpTimersModel, HealthCheckModel, LbPodBindingModel, LoadBalancerServiceModel, PrefixLimitModel,
  ReflectorBfdModel, ReflectorPeerModel, ResilientHashingModel, RouteAttributesModel, RouteReflectorModel, ServicePortModel, UpstreamRouterModel,
} from './model';
