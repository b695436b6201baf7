export * from './bird';
export * from './exabgp';
export * from './frr';
export * from './gobgpd';
export * from './keepalived';
export * from './sysctl';
export * from './password';
