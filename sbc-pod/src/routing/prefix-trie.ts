// Longest-prefix match over dialled digits. Routes compile into one trie per tenant, so lookup cost depends on
// the number's length, not on how many routes or tenants exist.

interface Node<T> {
  children: Map<string, Node<T>>;
  values: T[];
}

export class PrefixTrie<T> {
  #root: Node<T> = { children: new Map(), values: [] };
  #size = 0;

  /** Add a value under a prefix ("" matches everything). Values under one prefix keep insertion order. */
  insert(prefix: string, value: T): void {
    let node = this.#root;
    for (const ch of prefix) {
      let next = node.children.get(ch);
      if (!next) {
        next = { children: new Map(), values: [] };
        node.children.set(ch, next);
      }
      node = next;
    }
    node.values.push(value);
    this.#size++;
  }

  get size(): number {
    return this.#size;
  }

  /** Every value whose prefix matches `key`, longest prefix first (insertion order within one prefix). */
  matches(key: string): T[] {
    const found: T[][] = [this.#root.values];
    let node: Node<T> | undefined = this.#root;
    for (let i = 0; i < key.length && node; i++) {
      node = node.children.get(key[i]!);
      if (node?.values.length) found.push(node.values);
    }
    const out: T[] = [];
    for (let i = found.length - 1; i >= 0; i--) out.push(...found[i]!);
    return out;
  }

  /** The first value of the longest matching prefix, if any. */
  longest(key: string): T | undefined {
    return this.matches(key)[0];
  }
}
