/**
 * Validation of flagd targeting rules (JSONLogic plus flagd's `fractional`, `sem_ver`,
 * `starts_with`, `ends_with`) before the operator publishes them, so that nothing flagd
 * would refuse reaches a flag document. A refusal names the path of the bad rule, e.g.
 * `targeting.if[1].fractional[2]`, and says what to do.
 *
 * What is checked: every operation is an object with exactly one key naming an
 * operator of flagd's targeting schema; the operand counts flagd's schema requires
 * (binary operators take 2, `<`/`<=` take 2 or 3, `reduce` 3, `sem_ver` 3 with a known
 * comparison, `starts_with`/`ends_with` 2, `missing_some` [count, list]); `fractional`
 * buckets are `[variant]` or `[variant, integer weight ≥ 0]` with a total ≤ 2³¹ − 1 and
 * constant variants that name a variant of the flag; constant results of `if` branches
 * in result position (the rule itself, or a branch of such an `if`) name a variant or are null. `$ref` is refused: the operator
 * publishes no `$evaluators`.
 *
 * Limitations: variants computed at evaluation time (a `var` in a bucket or branch) are
 * not checked; flagd then falls back to the default variant with an error reason. The
 * rule is also passed through `@openfeature/flagd-core`'s schema validation (flagd's
 * own JSON schema) by the document builder, which catches what this walker misses.
 */
import { MAX_TOTAL_WEIGHT } from './fractional.ts';

/** A rule flagd would refuse: where and why. */
export interface TargetingProblem {
  /** Path of the bad rule from the flag, e.g. `targeting.if[1].fractional[2]`. */
  readonly path: string;
  readonly message: string;
}

const BINARY = new Set(['==', '===', '!=', '!==', '>', '>=', '%', '/', 'map', 'filter', 'all', 'none', 'some', 'in', 'starts_with', 'ends_with']);
const BINARY_OR_TERNARY = new Set(['<', '<=']);
const VARIADIC = new Set(['if', 'and', 'or', '+', '-', '*', 'min', 'max', 'merge', 'cat', 'substr', 'missing']);
const UNARY = new Set(['!', '!!']);
const SEM_VER_OPS = new Set(['=', '!=', '>', '<', '>=', '<=', '~', '^']);

/** Every operator flagd's targeting schema admits. */
export const FLAGD_OPERATORS: ReadonlySet<string> = new Set([
  ...BINARY, ...BINARY_OR_TERNARY, ...VARIADIC, ...UNARY, 'var', 'missing_some', 'reduce', 'fractional', 'sem_ver',
]);

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const keyPath = (path: string, key: string) => (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`);

interface Walk {
  readonly variants: ReadonlySet<string>;
  readonly problems: TargetingProblem[];
}

function checkVariantConstant(value: unknown, path: string, walk: Walk, what: string): void {
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') return; // null, or computed at evaluation time
  const name = String(value);
  if (!walk.variants.has(name)) {
    walk.problems.push({ path, message: `${what} ${JSON.stringify(value)} is not a variant of the flag; use one of ${[...walk.variants].sort().join(', ')}` });
  }
}

function walkFractional(args: unknown, path: string, walk: Walk): void {
  if (!Array.isArray(args) || args.length < 1) {
    walk.problems.push({ path, message: 'fractional takes a list of buckets such as [["on", 10], ["off", 90]], optionally preceded by a bucketing key' });
    return;
  }
  let first = 0;
  if (!Array.isArray(args[0])) {
    walkRule(args[0], `${path}[0]`, walk);
    first = 1;
  }
  if (args.length - first < 1) walk.problems.push({ path, message: 'fractional needs at least one bucket' });
  let total = 0;
  for (let i = first; i < args.length; i++) {
    const bucket: unknown = args[i];
    const at = `${path}[${i}]`;
    if (!Array.isArray(bucket) || bucket.length < 1 || bucket.length > 2) {
      walk.problems.push({ path: at, message: 'a fractional bucket is [variant] or [variant, weight]' });
      continue;
    }
    const [variant, weight] = bucket as unknown[];
    if (isRecord(variant)) walkRule(variant, `${at}[0]`, walk);
    else checkVariantConstant(variant, `${at}[0]`, walk, 'bucket variant');
    if (bucket.length === 2) {
      if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 0) {
        walk.problems.push({ path: `${at}[1]`, message: `weight ${JSON.stringify(weight)} must be an integer ≥ 0` });
        continue;
      }
      total += weight;
    } else total += 1;
  }
  if (total > MAX_TOTAL_WEIGHT) walk.problems.push({ path, message: `weights total ${total}, above flagd's limit ${MAX_TOTAL_WEIGHT}` });
}

function arity(op: string, args: unknown, path: string, walk: Walk): void {
  const n = Array.isArray(args) ? args.length : 1;
  const fail = (expected: string) => walk.problems.push({ path, message: `${op} takes ${expected}, got ${n}` });
  if (BINARY.has(op) && (!Array.isArray(args) || n !== 2)) fail('exactly 2 operands');
  else if (BINARY_OR_TERNARY.has(op) && (!Array.isArray(args) || n < 2 || n > 3)) fail('2 or 3 operands');
  else if (op === 'reduce' && (!Array.isArray(args) || n !== 3)) fail('exactly 3 operands');
  else if (op === 'if' && (!Array.isArray(args) || n < 1)) fail('at least 1 operand');
  else if (op === 'missing_some' && (!Array.isArray(args) || n !== 2 || !Array.isArray(args[1]))) fail('[minimum count, list of names]');
  else if (op === 'sem_ver') {
    if (!Array.isArray(args) || n !== 3) fail('exactly 3 operands: version, comparison, version');
    else if (typeof args[1] !== 'string' || !SEM_VER_OPS.has(args[1])) {
      walk.problems.push({ path: `${path}[1]`, message: `sem_ver comparison ${JSON.stringify(args[1])} is not one of ${[...SEM_VER_OPS].join(' ')}` });
    }
  } else if (op === 'var' && !(typeof args === 'string' || typeof args === 'number' || (Array.isArray(args) && n >= 1 && n <= 2))) {
    fail('a name, or [name, default]');
  }
}

function walkRule(rule: unknown, path: string, walk: Walk, result = false): void {
  if (Array.isArray(rule)) {
    rule.forEach((item, i) => walkRule(item, `${path}[${i}]`, walk));
    return;
  }
  if (!isRecord(rule)) return;
  const keys = Object.keys(rule);
  if (keys.length !== 1) {
    walk.problems.push({ path, message: `a JSONLogic operation is an object with exactly one operator key, got ${keys.length} (${keys.join(', ')})` });
    return;
  }
  const op = keys[0] ?? '';
  const at = keyPath(path, op);
  if (op === '$ref') {
    walk.problems.push({ path: at, message: '$ref needs shared $evaluators, which the operator does not publish; inline the rule' });
    return;
  }
  if (!FLAGD_OPERATORS.has(op)) {
    walk.problems.push({ path: at, message: `unknown operator ${JSON.stringify(op)}; flagd accepts ${[...FLAGD_OPERATORS].sort().join(' ')}` });
    return;
  }
  const args = rule[op];
  if (op === 'fractional') {
    walkFractional(args, at, walk);
    return;
  }
  arity(op, args, at, walk);
  if (op === 'if' && Array.isArray(args)) {
    // if [cond, then, cond, then, ..., else]: the branches are results, which must name variants.
    args.forEach((arg, i) => {
      const isBranch = result && (i % 2 === 1 || (i === args.length - 1 && i > 0));
      if (isBranch && !isRecord(arg)) checkVariantConstant(arg, `${at}[${i}]`, walk, 'branch result');
      walkRule(arg, `${at}[${i}]`, walk, isBranch);
    });
    return;
  }
  walkRule(args, at, walk);
}

/**
 * The problems flagd would refuse in `targeting` (empty when it is publishable).
 * `variants` are the flag's variant names; `root` prefixes each path (default `targeting`).
 */
export function validateTargeting(targeting: unknown, options: { readonly variants: Iterable<string>; readonly root?: string }): TargetingProblem[] {
  const walk: Walk = { variants: new Set(options.variants), problems: [] };
  const root = options.root ?? 'targeting';
  if (!isRecord(targeting)) return [{ path: root, message: 'targeting must be a JSONLogic object' }];
  if (Object.keys(targeting).length === 0) return [];
  walkRule(targeting, root, walk, true);
  return walk.problems;
}
