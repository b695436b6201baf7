export * from './bird';
export * from './exabgp';
export * from './frr';
export * from './frr-reflector';
export * from './gobgpd';
export * from './keepalived';
export * from './sysctl';
export * from './password';
