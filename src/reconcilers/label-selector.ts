/**
 * Kubernetes label selectors (`metav1.LabelSelector`), pure: `matchLabels` and
 * `matchExpressions` (In, NotIn, Exists, DoesNotExist), all of which must hold. An
 * empty selector matches everything, as for a Deployment's pods.
 *
 * Limitations: no set-based string syntax (`app in (a,b)`); an unknown operator
 * matches nothing.
 */

export interface LabelSelectorRequirement {
  readonly key: string;
  readonly operator: string;
  readonly values?: readonly string[] | undefined;
}

export interface LabelSelector {
  readonly matchLabels?: Readonly<Record<string, string>> | undefined;
  readonly matchExpressions?: readonly LabelSelectorRequirement[] | undefined;
}

/** True when `labels` satisfy every term of `selector`. */
export function labelSelectorMatches(selector: LabelSelector | undefined, labels: Readonly<Record<string, string>> | undefined): boolean {
  const have = labels ?? {};
  for (const [key, value] of Object.entries(selector?.matchLabels ?? {})) if (have[key] !== value) return false;
  for (const term of selector?.matchExpressions ?? []) {
    const present = Object.hasOwn(have, term.key);
    const value = have[term.key];
    const values = term.values ?? [];
    switch (term.operator) {
      case 'In':
        if (!present || !values.includes(value ?? '')) return false;
        break;
      case 'NotIn':
        if (present && values.includes(value ?? '')) return false;
        break;
      case 'Exists':
        if (!present) return false;
        break;
      case 'DoesNotExist':
        if (present) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}
