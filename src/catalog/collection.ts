import type { Collection, WatchEvent } from './catalog.js';

/** An in-memory collection keyed by namespace and name, telling watchers of each change. */
export class WatchableCollection<T> implements Collection<T> {
  private readonly objects = new Map<string, T>();
  private readonly watchers = new Set<(event: WatchEvent<T>) => void>();

  constructor(private readonly keyOf: (object: T) => { namespace: string; name: string }) {}

  private static key(namespace: string, name: string): string {
    return `${namespace}/${name}`;
  }

  get size(): number {
    return this.objects.size;
  }

  list(namespace?: string): T[] {
    const all = [...this.objects.values()];
    return namespace === undefined ? all : all.filter((o) => this.keyOf(o).namespace === namespace);
  }

  get(namespace: string, name: string): T | undefined {
    return this.objects.get(WatchableCollection.key(namespace, name));
  }

  watch(onEvent: (event: WatchEvent<T>) => void): () => void {
    for (const object of this.objects.values()) onEvent({ type: 'added', object });
    this.watchers.add(onEvent);
    return () => this.watchers.delete(onEvent);
  }

  /** Adds or replaces an object; returns the one it replaced. */
  put(object: T): T | undefined {
    const { namespace, name } = this.keyOf(object);
    const key = WatchableCollection.key(namespace, name);
    const old = this.objects.get(key);
    this.objects.set(key, object);
    this.emit(old === undefined ? { type: 'added', object } : { type: 'modified', object, old });
    return old;
  }

  remove(namespace: string, name: string): T | undefined {
    const key = WatchableCollection.key(namespace, name);
    const old = this.objects.get(key);
    if (old === undefined) return undefined;
    this.objects.delete(key);
    this.emit({ type: 'deleted', object: old });
    return old;
  }

  private emit(event: WatchEvent<T>): void {
    for (const w of this.watchers) w(event);
  }
}
