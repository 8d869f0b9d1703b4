import { Document, isMap, isPair, isSeq, Pair, parseDocument, visit } from 'yaml';
import { hasRange, type MapNode, type PairNode, pairOf } from './nodes.js';

// Edits one parsed YAML document in place, keeping every byte the edit does not touch.
//
// Each operation changes the Document's nodes (the model) and also records the same change
// as a text patch at the nodes' source ranges: new pairs and list items are rendered by the
// yaml package in the document's own indentation and inserted as whole lines; removed ones
// are cut out as whole lines. yaml's own printer would also keep comments, order and
// quoting, but it re-spaces comments, re-folds folded scalars, normalises `0080` to `80` and
// mixed list indentation; patches keep all of that as it was. Where a patch cannot say it
// (a change inside a flow collection such as `{a: b}`, or an odd layout), the document is
// printed from its edited nodes instead, which is still faithful YAML.

/** How the document is written: new text is rendered the same way. */
export interface Style {
  /** Spaces per nesting level. */
  readonly indent: number;
  /** Whether `- ` items sit deeper than their key (`key:\n  - a`) or level with it (`key:\n- a`). */
  readonly indentSeq: boolean;
  /** Whether flow collections have spaces inside their brackets (`{ a: b }`), for re-printing. */
  readonly flowPadding: boolean;
  readonly eol: '\n' | '\r\n';
}

interface Edit {
  readonly start: number;
  readonly end: number;
  readonly text: string;
  /** How deep the collection that gets the inserted lines is: at one position, deeper ones go first (see `text`). */
  readonly depth: number;
  readonly order: number;
}

/** Thrown inside an operation when its change cannot be written as a text patch. */
class NoPatch extends Error {}

/** YAML for `value` at column 0, with strings quoted wherever a YAML 1.1 reader (Kubernetes) would misread them. */
function render(value: unknown, style: Pick<Style, 'indent' | 'indentSeq'>): string {
  return new Document(value, { compat: 'yaml-1.1' }).toString({
    indent: style.indent,
    indentSeq: style.indentSeq,
    lineWidth: 0,
  });
}

export class DocEditor {
  readonly style: Style;
  private readonly edits: Edit[] = [];
  /** Nodes this editor made: they have no place in the source text. */
  private readonly created = new WeakSet<object>();
  /** Collections that got new content: printed as block collections if the document is re-printed. */
  private readonly grown = new Set<object>();
  private reprint = false;
  private changed = false;

  /** The stream's text; one that does not end with a newline gets one here, taken off again in `text`. */
  private readonly src: string;
  private readonly length: number;

  constructor(
    src: string,
    readonly doc: Document.Parsed,
  ) {
    const eol = src.includes('\r\n') ? '\r\n' : '\n';
    this.length = src.length;
    this.src = src === '' || src.endsWith('\n') ? src : src + eol;
    this.style = detectStyle(this.src, doc, eol, (pos) => this.dashBefore(pos));
  }

  /**
   * Sets each `[key, value]` of `entries` in a block or flow map: a key that is absent is
   * added after the last pair (or before the first); one that is present (typically `key:`
   * with no value, or `{}`) has its whole pair replaced.
   */
  setPairs(
    map: MapNode,
    entries: ReadonlyArray<readonly [string, unknown]>,
    at: 'start' | 'end' = 'end',
  ): void {
    if (entries.length === 0) return;
    this.changed = true;
    this.grown.add(map);
    const added = entries.filter(([k]) => pairOf(map, k) === undefined);
    const replaced = entries.filter(([k]) => pairOf(map, k) !== undefined);
    this.patch(() => {
      if (map.flow || !hasRange(map)) throw new NoPatch();
      for (const [key, value] of replaced) {
        const pair = pairOf(map, key) as PairNode;
        const start = this.keyLineStart(pair);
        const col = this.column(this.keyStart(pair));
        this.replace(start, this.contentEnd(pair), this.renderAt({ [key]: value }, col));
      }
      if (added.length > 0) {
        const first = map.items.find((p) => !this.created.has(p));
        if (!first) throw new NoPatch();
        const col = this.column(this.keyStart(first));
        const pos = at === 'start' ? this.keyLineStart(first) : this.contentEnd(map);
        this.insert(pos, this.renderAt(Object.fromEntries(added), col), map);
      }
    });
    for (const [key, value] of replaced) (pairOf(map, key) as PairNode).value = this.node(value);
    const pairs = added.map(([key, value]) => {
      const pair = new Pair(key, this.node(value));
      this.created.add(pair);
      return pair;
    });
    if (at === 'start') map.items.unshift(...pairs);
    else map.items.push(...pairs);
  }

  /**
   * Puts `values` at the start or the end of the list at `map[key]`; an absent, null or
   * empty list becomes a new block list.
   */
  insertItems(map: MapNode, key: string, at: 'start' | 'end', values: readonly unknown[]): void {
    const pair = pairOf(map, key);
    const seq = pair?.value;
    if (!pair || !isSeq(seq) || seq.items.length === 0) {
      this.setPairs(map, [[key, values]]);
      return;
    }
    this.changed = true;
    this.grown.add(seq);
    this.patch(() => {
      const first = seq.items.find((i) => !this.created.has(i as object));
      if (map.flow || seq.flow || !hasRange(first)) throw new NoPatch();
      const dash = this.dashBefore(first.range[0]);
      if (dash < 0) throw new NoPatch();
      const pos = at === 'start' ? this.endOfLine(this.keyEnd(pair)) : this.contentEnd(seq);
      if (at === 'start' && pos > dash) throw new NoPatch();
      this.insert(pos, this.renderAt(values, this.column(dash)), seq);
    });
    const nodes = values.map((v) => this.node(v));
    if (at === 'start') seq.items.unshift(...nodes);
    else seq.items.push(...nodes);
  }

  /**
   * Removes the items of the list at `map[key]` that `drop` picks; a list left empty is
   * removed with its key. Returns how many went.
   */
  removeItems(map: MapNode, key: string, drop: (item: unknown) => boolean): number {
    const pair = pairOf(map, key);
    const seq = pair?.value;
    if (!pair || !isSeq(seq)) return 0;
    const gone = seq.items.filter(drop);
    if (gone.length === 0) return 0;
    if (gone.length === seq.items.length) {
      this.removePairs(map, [key]);
      return gone.length;
    }
    this.changed = true;
    this.patch(() => {
      if (seq.flow) throw new NoPatch();
      for (const item of gone) {
        if (!hasRange(item)) throw new NoPatch();
        const dash = this.dashBefore(item.range[0]);
        if (dash < 0 || !this.startsLine(dash)) throw new NoPatch();
        this.remove(this.lineStart(dash), this.contentEnd(item));
      }
    });
    seq.items = seq.items.filter((i) => !gone.includes(i));
    return gone.length;
  }

  /** Removes the pairs with these keys (those present) from a map. */
  removePairs(map: MapNode, keys: readonly string[]): void {
    const pairs = keys.map((k) => pairOf(map, k)).filter((p): p is PairNode => p !== undefined);
    if (pairs.length === 0) return;
    this.changed = true;
    this.patch(() => {
      if (map.flow) throw new NoPatch();
      for (const pair of pairs) this.remove(this.keyLineStart(pair), this.contentEnd(pair));
    });
    map.items = map.items.filter((p) => !pairs.includes(p));
  }

  /** The document's new text, for its stretch [start, end) of the stream. */
  text(start: number, end: number): string {
    const { src } = this;
    if (!this.changed) return src.slice(start, Math.min(end, this.length));
    const last = end >= this.length;
    const out = this.patched(start, last ? src.length : end);
    // The newline added to a stream that had none at its end comes off again.
    return last && src.length > this.length && out.endsWith(this.style.eol)
      ? out.slice(0, -this.style.eol.length)
      : out;
  }

  private patched(start: number, end: number): string {
    const { src } = this;
    if (!this.reprint) {
      // At one position, insertions come before a change that starts there, and deeper ones
      // before shallower ones: an item added to a list that ends where its parent map ends
      // must stay in the list, not land after a key appended to the map.
      const zeroWidth = (e: Edit): number => (e.start === e.end ? 0 : 1);
      const edits = [...this.edits].sort(
        (a, b) => a.start - b.start || zeroWidth(a) - zeroWidth(b) || b.depth - a.depth || a.order - b.order,
      );
      let out = '';
      let at = start;
      let overlap = false;
      for (const e of edits) {
        if (e.start < at) {
          overlap = true;
          break;
        }
        out += src.slice(at, e.start) + e.text;
        at = e.end;
      }
      if (!overlap) return out + src.slice(at, end);
    }
    const tail = src.slice(Math.max(start, this.doc.range[2]), end);
    const json = this.jsonIndent();
    if (json === undefined) this.unflowGrown();
    let printed =
      json === undefined
        ? this.doc.toString({
            indent: this.style.indent,
            indentSeq: this.style.indentSeq,
            flowCollectionPadding: this.style.flowPadding,
            lineWidth: 0,
          })
        : JSON.stringify(this.doc.toJS(), null, json);
    if (!printed.endsWith('\n')) printed += '\n';
    return (this.style.eol === '\r\n' ? printed.replace(/\r?\n/g, '\r\n') : printed) + tail.trimStart();
  }

  /**
   * Turns the flow collections that got new content, and the flow collections around them,
   * into block ones: a sidecar inside `containers: [...]` would otherwise be one long line.
   * Flow collections left alone (the application's `{name: app, image: x}`) stay as they are.
   */
  private unflowGrown(): void {
    visit(this.doc, {
      Node: (_key, node, path) => {
        if (!this.grown.has(node) || !(isMap(node) || isSeq(node))) return;
        for (const up of [...path, node]) if (isMap(up) || isSeq(up)) up.flow = false;
      },
    });
  }

  /**
   * For a document written as JSON (`kubectl get -o json`), the indentation of its first
   * nested line: the edited document is printed as JSON again. Undefined for YAML.
   */
  private jsonIndent(): number | undefined {
    const root = this.doc.contents;
    if (!hasRange(root) || !(isMap(root) || isSeq(root)) || !root.flow) return undefined;
    const text = this.src.slice(root.range[0], root.range[1]);
    if (!/^[[{]\s*("|[\]}])/.test(text)) return undefined;
    const m = /\n( +)"/.exec(text);
    return m ? (m[1] as string).length : 2;
  }

  // ---- text patches

  private patch(write: () => void): void {
    if (this.reprint) return;
    const before = this.edits.length;
    try {
      write();
    } catch (err) {
      if (!(err instanceof NoPatch)) throw err;
      this.edits.length = before;
      this.reprint = true;
    }
  }

  private push(start: number, end: number, text: string, depth = 0): void {
    this.edits.push({ start, end, text, depth, order: this.edits.length });
  }

  /** Inserts whole lines at `pos`, a line start, into `target` (whose depth orders insertions at one place). */
  private insert(pos: number, lines: string, target: object): void {
    this.push(pos, pos, lines, this.depth(target));
  }

  /** Removes whole lines [start, end). */
  private remove(start: number, end: number): void {
    this.push(start, end, '');
  }

  private replace(start: number, end: number, lines: string): void {
    this.push(start, end, lines);
  }

  /** How deep a node sits in the document. */
  private depth(target: object): number {
    let depth = 0;
    visit(this.doc, {
      Node: (_key, node, path) => {
        if (node !== target) return undefined;
        depth = path.length;
        return visit.BREAK;
      },
    });
    return depth;
  }

  /** `value` rendered as whole lines indented to `col`. */
  private renderAt(value: unknown, col: number): string {
    const pad = ' '.repeat(col);
    return render(value, this.style)
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => `${pad}${l}${this.style.eol}`)
      .join('');
  }

  /** A node for `value`, quoted as it is rendered; it has no source range. */
  private node(value: unknown): unknown {
    const contents = parseDocument(render(value, this.style)).contents;
    const forget = (n: object): void => {
      // A parsed node's range points into the text it came from, not this document's.
      (n as { range?: unknown }).range = null;
      this.created.add(n);
    };
    visit(contents, { Node: (_key, n) => forget(n), Pair: (_key, p) => forget(p) });
    if (contents) forget(contents);
    return contents;
  }

  // ---- positions

  private lineStart(pos: number): number {
    return this.src.lastIndexOf('\n', pos - 1) + 1;
  }

  /** The end of the line `pos` is on, after its newline; `pos` itself when it starts a line. */
  private endOfLine(pos: number): number {
    if (pos > 0 && this.src[pos - 1] === '\n') return pos;
    const nl = this.src.indexOf('\n', pos);
    return nl === -1 ? this.src.length : nl + 1;
  }

  private column(pos: number): number {
    return pos - this.lineStart(pos);
  }

  private startsLine(pos: number): boolean {
    return /^[ ]*$/.test(this.src.slice(this.lineStart(pos), pos));
  }

  /** The `-` of the block list item whose content starts at `pos` on the same line, or -1. */
  private dashBefore(pos: number): number {
    let i = pos - 1;
    while (i >= 0 && this.src[i] === ' ') i--;
    return i >= 0 && this.src[i] === '-' ? i : -1;
  }

  private keyStart(pair: PairNode): number {
    if (!hasRange(pair.key)) throw new NoPatch();
    return pair.key.range[0];
  }

  private keyEnd(pair: PairNode): number {
    if (!hasRange(pair.key)) throw new NoPatch();
    return pair.key.range[1];
  }

  /** The start of a pair's line; the pair must be the first thing on it. */
  private keyLineStart(pair: PairNode): number {
    const key = this.keyStart(pair);
    if (!this.startsLine(key)) throw new NoPatch();
    return this.lineStart(key);
  }

  /**
   * Where a node's text ends: after the newline of its last line of content (a comment on
   * that line included, comments on later lines not).
   */
  private contentEnd(node: unknown): number {
    if (isPair(node)) {
      if (hasRange(node.value)) return this.contentEnd(node.value);
      return this.endOfLine(this.keyEnd(node));
    }
    if ((isMap(node) || isSeq(node)) && !node.flow) {
      const parsed = (node.items as unknown[]).filter((i) => !this.created.has(i as object));
      if (parsed.length > 0) return this.contentEnd(parsed[parsed.length - 1]);
    }
    if (!hasRange(node)) throw new NoPatch();
    return this.endOfLine(node.range[1]);
  }
}

/** The indentation, list style and flow padding of the first nested block map, block list and flow collection. */
function detectStyle(
  src: string,
  doc: Document.Parsed,
  eol: '\n' | '\r\n',
  dashBefore: (pos: number) => number,
): Style {
  const column = (pos: number): number => pos - (src.lastIndexOf('\n', pos - 1) + 1);
  let indent: number | undefined;
  let indentSeq: boolean | undefined;
  let flowPadding: boolean | undefined;
  visit(doc, {
    Pair: (_key, pair) => {
      if (!hasRange(pair.key)) return undefined;
      const keyCol = column(pair.key.range[0]);
      const v = pair.value;
      if (indent === undefined && isMap(v) && !v.flow && hasRange(v.items[0]?.key)) {
        const first = v.items[0]?.key as { range: [number, number, number] };
        const step = column(first.range[0]) - keyCol;
        if (step > 0) indent = step;
      }
      if (indentSeq === undefined && isSeq(v) && !v.flow && hasRange(v.items[0])) {
        const dash = dashBefore((v.items[0] as { range: [number, number, number] }).range[0]);
        if (dash >= 0) indentSeq = column(dash) > keyCol;
      }
      if (
        flowPadding === undefined &&
        (isMap(v) || isSeq(v)) &&
        v.flow &&
        v.items.length > 0 &&
        hasRange(v)
      ) {
        flowPadding = src[v.range[0] + 1] === ' ';
      }
      return indent !== undefined && indentSeq !== undefined && flowPadding !== undefined
        ? visit.BREAK
        : undefined;
    },
  });
  return { indent: indent ?? 2, indentSeq: indentSeq ?? false, flowPadding: flowPadding ?? true, eol };
}
