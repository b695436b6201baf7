/** Default images (built from images/ in this repository). */
export const DEFAULT_LB_IMAGE = 'cdk8s-ecmp-lb/lb:0.1.0';
export const DEFAULT_EXABGP_IMAGE = 'cdk8s-ecmp-lb/exabgp:4.2.21';
export const DEFAULT_GOBGPD_IMAGE = 'cdk8s-ecmp-lb/gobgpd:3.10.0';
