import { RouteAttributesModel } from './model';

/** The largest value of a 32-bit BGP field (LOCAL_PREF, MED, a large community's parts). */
const UINT32_MAX = 4294967295;

/** What is wrong with a standard community (RFC 1997, `ASN:VALUE`, each 0..65535); undefined when nothing. */
export function communityProblem(text: unknown): string | undefined {
  return partsProblem(text, 2, 65535, '`ASN:VALUE`, each part 0..65535 (well-known ones by number: NO_EXPORT is 65535:65281)');
}

/** What is wrong with a large community (RFC 8092, `GLOBAL:LOCAL1:LOCAL2`, each 0..4294967295); undefined when nothing. */
export function largeCommunityProblem(text: unknown): string | undefined {
  return partsProblem(text, 3, UINT32_MAX, '`GLOBAL:LOCAL1:LOCAL2`, each part 0..4294967295');
}

/** What is wrong with a LOCAL_PREF or MED value (an integer 0..4294967295); undefined when nothing. */
export function metricProblem(value: unknown): string | undefined {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= UINT32_MAX ? undefined : 'is not an integer in 0..4294967295';
}

function partsProblem(text: unknown, count: number, max: number, form: string): string | undefined {
  const parts = typeof text === 'string' ? text.split(':') : [];
  const ok = parts.length === count && parts.every(p => /^(0|[1-9][0-9]{0,9})$/.test(p) && Number(p) <= max);
  return ok ? undefined : `is not ${form}`;
}

/**
 * The attributes, checked: a renderer writes them into exabgp's config and API, where a bracket or
 * semicolon would read as more configuration, so anything else is refused.
 */
export function checkedRouteAttributes(attributes: RouteAttributesModel): RouteAttributesModel {
  const problems = [
    ...attributes.communities.map(c => [c, communityProblem(c)]),
    ...attributes.largeCommunities.map(c => [c, largeCommunityProblem(c)]),
    ...[attributes.localPreference, attributes.med].filter(v => v !== undefined).map(v => [v, metricProblem(v)]),
  ].filter(([, problem]) => problem !== undefined);
  if (problems.length) throw new Error(`route attribute ${JSON.stringify(problems[0][0])} ${problems[0][1]}`);
  return attributes;
}
