/**
 * Pure: the announce file's text. exabgp's API process announces each line and withdraws lines
 * that disappear, so an empty file withdraws everything.
 */
export function announceText(prefixes: readonly string[], nextHop: string, announce: boolean): string {
  if (!announce) return '';
  return prefixes.map((prefix) => `announce route ${prefix} next-hop ${nextHop}\n`).join('');
}
