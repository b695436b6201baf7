import * as k8s from '../imports/k8s';

/** The unprivileged user that programs which need no root run as. */
export const NOBODY = 65534;

/**
 * A container security context as tight as the job allows: no privilege escalation, read-only
 * root filesystem, every capability dropped and only `addCapabilities` given back. Programs that
 * must be root to use their capabilities (keepalived, `ip route`) say so with `runAsRoot`.
 */
export function containerSecurity(options: { addCapabilities?: string[]; runAsRoot?: boolean } = {}): k8s.SecurityContext {
  const add = options.addCapabilities ?? [];
  return {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    privileged: false,
    capabilities: { drop: ['ALL'], ...(add.length > 0 ? { add } : {}) },
    ...(options.runAsRoot
      ? { runAsNonRoot: false, runAsUser: 0 }
      : { runAsNonRoot: true, runAsUser: NOBODY, runAsGroup: NOBODY }),
  };
}

/** The pod-level part: RuntimeDefault seccomp, plus namespaced sysctls the pod needs. */
export function podSecurity(sysctls: Record<string, string> = {}): k8s.PodSecurityContext {
  const list = Object.entries(sysctls).map(([name, value]) => ({ name, value }));
  return {
    seccompProfile: { type: 'RuntimeDefault' },
    ...(list.length > 0 ? { sysctls: list } : {}),
  };
}
