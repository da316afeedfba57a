/**
 * A map with a hard entry bound and approximately-LRU eviction, in two generations.
 *
 * New entries go to `young`; when `young` holds half the capacity it becomes `old` and the
 * previous `old` is dropped whole. A hit in `old` copies the entry into `young`, so what is in
 * use survives every rotation. Hits in `young` write nothing, which keeps the common hit to one
 * Map lookup (an exact LRU moves every hit). At most `capacity` entries are ever held:
 * `young` stays below `capacity / 2` between rotations and `old` is one former `young`.
 */

export interface BoundedMap<K, V> {
  readonly half: number;
  young: Map<K, V>;
  old: Map<K, V>;
}

/**
 * An empty bounded map holding at most `capacity` entries (at least 2).
 *
 * @example
 * const counts = createBoundedMap<bigint, number>(4096);
 */
export function createBoundedMap<K, V>(capacity: number): BoundedMap<K, V> {
  return { half: Math.max(1, Math.floor(capacity / 2)), young: new Map(), old: new Map() };
}

/**
 * Stores `value`; may drop the oldest generation.
 *
 * @example
 * boundedSet(counts, 42n, 7);
 */
export function boundedSet<K, V>(map: BoundedMap<K, V>, key: K, value: V): void {
  map.young.set(key, value);
  if (map.young.size >= map.half) {
    map.old = map.young;
    map.young = new Map();
  }
}

/**
 * Looks `key` up; a hit in the old generation is kept alive by copying it into the young one.
 *
 * @example
 * boundedGet(counts, 42n); // 7, or undefined once evicted
 */
export function boundedGet<K, V>(map: BoundedMap<K, V>, key: K): V | undefined {
  const young = map.young.get(key);
  if (young !== undefined) return young;
  const old = map.old.get(key);
  if (old !== undefined) boundedSet(map, key, old);
  return old;
}

/**
 * Entries held now (an entry promoted from `old` is counted in both until `old` is dropped).
 *
 * @example
 * boundedSize(counts) <= 4096; // always
 */
export function boundedSize<K, V>(map: BoundedMap<K, V>): number {
  return map.young.size + map.old.size;
}
