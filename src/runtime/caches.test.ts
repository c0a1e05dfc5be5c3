import { describe, expect, it } from 'vitest';
import type { KubeClient } from '../kube/client.ts';
import { Resources } from '../kube/resources.ts';
import { SystemClock } from '../legos/clock.ts';
import { Caches } from './caches.ts';
import { NamespacedInformers } from './informer/fan-in.ts';
import { Informer } from './informer/informer.ts';
import { Summary } from './informer/projection.ts';
import { silentLogger } from './log.ts';

// Nothing is started: which informers the caches make is decided without I/O.
const caches = (namespaces?: string[]) => new Caches({ client: {} as KubeClient, namespaces, clock: SystemClock, log: silentLogger });

describe('Caches', () => {
  it('serving several namespaces, gives a namespaced type one informer per namespace behind one view', () => {
    const c = caches(['a', 'b']);
    const configMaps = c.informer(Resources.ConfigMap);
    expect(configMaps).toBeInstanceOf(NamespacedInformers);
    expect((configMaps as NamespacedInformers).namespaces).toEqual(['a', 'b']);
    expect(c.informer(Resources.ConfigMap)).toBe(configMaps);
    expect(c.pending()).toEqual(['v1/configmaps|a,b||']);
  });

  it('watches cluster-scoped types and explicitly namespaced selectors with one informer', () => {
    const c = caches(['a', 'b']);
    expect(c.informer(Resources.Node)).toBeInstanceOf(Informer);
    expect(c.informer(Resources.ConfigMap, { namespace: 'manyfold-system' })).toBeInstanceOf(Informer);
    expect(caches(['a']).informer(Resources.ConfigMap)).toBeInstanceOf(Informer);
    expect(caches().informer(Resources.ConfigMap)).toBeInstanceOf(Informer);
  });

  it('keeps a projected informer apart from the whole-object one', () => {
    const c = caches();
    const whole = c.informer(Resources.Deployment, { labelSelector: 'manyfold.dev/cell' });
    const summary = c.informer(Resources.Deployment, { labelSelector: 'manyfold.dev/cell', projection: Summary });
    expect(summary).not.toBe(whole);
    expect(c.informer(Resources.Deployment, { labelSelector: 'manyfold.dev/cell', projection: Summary })).toBe(summary);
  });
});
