// Compact informer records: what the ListWatch cache keeps for an object (keyed by its metadata),
// and that a converter's failure never escapes (it would make client-node drop the event).
import { describe, expect, it } from 'vitest';
import { compactOf } from '../../src/kube/compact.js';

describe('compactOf', () => {
  it('keeps the metadata the cache keys and diffs on, and the record', () => {
    const c = compactOf({ metadata: { name: 'a', namespace: 'n', resourceVersion: '7', labels: { x: 'y' } }, spec: { big: 'x'.repeat(1000) } }, { convert: (o) => ({ keep: (o as { metadata: { labels: object } }).metadata.labels }) });
    expect(c).toEqual({ metadata: { name: 'a', namespace: 'n', resourceVersion: '7' }, record: { keep: { x: 'y' } } });
  });

  it('a converter that throws or returns undefined leaves no record and is reported with the key', () => {
    const bad: string[] = [];
    const onMalformed = (key: string, error: string) => bad.push(`${key}: ${error}`);
    const thrown = compactOf({ metadata: { name: 'p', namespace: 'n', resourceVersion: '1' } }, { convert: () => { throw new Error('boom'); }, onMalformed });
    expect(thrown).toEqual({ metadata: { name: 'p', namespace: 'n', resourceVersion: '1' } });
    compactOf({ metadata: { name: 'cluster-scoped' } }, { convert: () => undefined, onMalformed });
    compactOf(42, { convert: () => undefined, onMalformed });
    expect(bad).toEqual(['n/p: boom', 'cluster-scoped: not a usable object', ': not a usable object']);
  });
});
