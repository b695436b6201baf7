import { BGP_PASSWORD_ENV, BGP_PASSWORD_PATTERN, BGP_PASSWORD_PLACEHOLDER } from '../model';

/**
 * The TCP-MD5 key as a renderer writes it: '' (none), the placeholder, or a key every config
 * syntax carries verbatim. Anything else would need quoting rules that differ per daemon, so a
 * renderer refuses it rather than risk a key that reads as more configuration.
 */
export function checkedBgpPassword(password: string | undefined): string {
  if (password === undefined || password === '' || password === BGP_PASSWORD_PLACEHOLDER) return password ?? '';
  if (!BGP_PASSWORD_PATTERN.test(password)) {
    throw new Error(`a TCP-MD5 key must be 1-80 characters of A-Z a-z 0-9 . _ ~ + = / @ % : - (got ${password.length} characters, some outside that set)`);
  }
  return password;
}

/**
 * For `ecmp-lb init`: the TCP-MD5 key of an LB pod's reflector sessions. '' when the service model
 * does not ask for one (`signBgpSessions` unset); otherwise the value of `ECMP_LB_BGP_PASSWORD` (set from the
 * Secret), which must match `BGP_PASSWORD_PATTERN`. Throws, without echoing the value, when it is
 * missing or malformed: a pod that should sign its sessions must not start unsigned.
 */
export function bgpPasswordFromEnv(service: { readonly signBgpSessions?: boolean }, env: Record<string, string | undefined>): string {
  if (!service.signBgpSessions) return '';
  const value = env[BGP_PASSWORD_ENV];
  if (value === undefined || value === '') {
    throw new Error(`the service signs its BGP sessions (signBgpSessions) but ${BGP_PASSWORD_ENV} is not set: the pod spec passes it from the Secret named in bgpPassword`);
  }
  if (!BGP_PASSWORD_PATTERN.test(value)) {
    throw new Error(`${BGP_PASSWORD_ENV} must be 1-80 characters of A-Z a-z 0-9 . _ ~ + = / @ % : - (it has ${value.length}, some outside that set): fix the Secret`);
  }
  return value;
}

/**
 * A neighbor description as FRR and BIRD write it (`description LINE`, `description "..."`): the
 * model promises [A-Za-z0-9._-]; a renderer refuses anything else rather than write a newline,
 * quote or brace that the daemon would read as more configuration.
 */
export function plainDescription(description: string): string {
  if (!/^[A-Za-z0-9._-]{1,80}$/.test(description)) {
    throw new Error(`a neighbor description must be 1-80 characters of A-Z a-z 0-9 . _ - (got ${JSON.stringify(description.slice(0, 40))})`);
  }
  return description;
}
