import { IConstruct } from 'constructs';

/**
 * The one shape every synth-time error takes: which construct, which field, what value, what is
 * wrong with it and how to fix it. Thrown from constructors for single-field checks and returned
 * from `node.addValidation` for checks that span constructs.
 */
export function invalidField(scope: IConstruct, field: string, value: unknown, problem: string, fix: string): string {
  return `${scope.constructor.name} '${scope.node.path}': ${field} ${describe(value)} ${problem}. Fix: ${fix}`;
}

/** Throws `invalidField(...)` as an Error. */
export function throwInvalid(scope: IConstruct, field: string, value: unknown, problem: string, fix: string): never {
  throw new Error(invalidField(scope, field, value, problem, fix));
}

function describe(value: unknown): string {
  if (value === undefined) return '(not set)';
  // JSON has no NaN or Infinity: it would print them as null.
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  const text = JSON.stringify(value, (_key, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)) ?? String(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
