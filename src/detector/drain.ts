/**
 * Online template mining in the manner of Drain (He et al., ICWS 2017): events are split into tokens, routed
 * by token count and their first tokens through a shallow tree, and joined to the most similar template in
 * the leaf if enough tokens agree; differing positions become `<*>`. Bounded: a leaf keeps at most
 * `maxClusters` templates, and the whole miner at most `maxTemplates` (least recently seen evicted).
 */
import { MASK_FIRST, MASK_LAST } from './mask.js';

export interface Template {
  id: number;
  tokens: string[];
  count: number;
  firstSeen: number;
  lastSeen: number;
  /** The tree leaf it lives in (its first tokens as first seen). */
  key: string;
  /**
   * The severity of its events ('' for none): an event of another severity never joins it, so that
   * `ERROR x` is not `INFO x` with a wildcard. Absent in snapshots from before it existed (joins any).
   */
  severity?: string;
}

export interface DrainOptions {
  /** Fraction of tokens that must agree to join a template. */
  similarity: number;
  /** Leading tokens used to route (after the length). */
  depth: number;
  maxClusters: number;
  maxTemplates: number;
}

const DEFAULTS: DrainOptions = { similarity: 0.5, depth: 2, maxClusters: 64, maxTemplates: 2000 };
export const WILDCARD = '<*>';
const WHITESPACE = /\s/;

function hasDigitOrMask(token: string): boolean {
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    if ((c >= 48 && c <= 57) || (c >= MASK_FIRST && c <= MASK_LAST)) return true;
  }
  return false;
}

/**
 * Messages whose template `addMessage` remembers at most, and their characters at most (the map is emptied
 * when either is reached): 64 KB a stream. Longer messages are not remembered (they seldom repeat exactly).
 */
const MESSAGE_CACHE = 1024;
const MESSAGE_CACHE_CHARS = 32_768;
const MESSAGE_CACHE_LENGTH = 512;

/** What `addMessage` remembers of a message: the template it joined, for events of that severity. */
interface CachedMatch {
  template: Template;
  severity: string;
  severityToken: boolean;
  /** The miner's `generation` then: a template added, widened, evicted or restored since voids it. */
  generation: number;
}

export class TemplateMiner {
  private readonly options: DrainOptions;
  private readonly leaves = new Map<string, Template[]>();
  private readonly byId = new Map<number, Template>();
  private nextId = 1;
  /**
   * The template each recent message (masked) joined, while no template has changed since: a message
   * that joined a template without widening it finds that same template again as long as no template is
   * added, widened or evicted (the search depends on nothing else), so it needs no tokens and no search.
   */
  private readonly matched = new Map<string, CachedMatch>();
  private matchedChars = 0;
  /** Counts the changes to the templates that can change which template a message joins. */
  private generation = 0;

  constructor(options: Partial<DrainOptions> = {}) {
    this.options = { ...DEFAULTS, ...options };
  }

  get size(): number {
    return this.byId.size;
  }

  /** Bytes held by the messages `addMessage` remembers (an estimate). */
  get cacheBytes(): number {
    return 2 * this.matchedChars + 64 * this.matched.size;
  }

  get(id: number): Template | undefined {
    return this.byId.get(id);
  }

  /**
   * The tokens a masked message is mined as: its words (`tokenize`), then `[SEVERITY]` when a severity is
   * given, or `<empty>` for none at all.
   */
  static messageTokens(masked: string, severity = ''): string[] {
    const tokens = TemplateMiner.tokenize(masked);
    if (severity) tokens.push(`[${severity}]`);
    if (tokens.length === 0) tokens.push('<empty>');
    return tokens;
  }

  /** Whitespace-separated tokens (as `split(/\s+/)` would give them), at most 64. */
  static tokenize(text: string): string[] {
    const out: string[] = [];
    const n = text.length;
    let start = -1;
    for (let i = 0; i <= n; i++) {
      const c = i < n ? text.charCodeAt(i) : 32;
      const space = c === 32 || (c >= 9 && c <= 13) || (c > 127 && WHITESPACE.test(text[i]!));
      if (space) {
        if (start >= 0) {
          out.push(text.slice(start, i));
          if (out.length === 64) return out;
          start = -1;
        }
      } else if (start < 0) start = i;
    }
    return out;
  }

  private leafKey(tokens: string[]): string {
    let key = String(tokens.length);
    for (let i = 0; i < this.options.depth && i < tokens.length; i++) {
      // Tokens with digits or masks are variables: route them together.
      key += '\u0001' + (hasDigitOrMask(tokens[i]!) ? WILDCARD : tokens[i]);
    }
    return key;
  }

  /** Finds the template for the tokens (of an event of `severity`) without changing anything. */
  match(tokens: string[], severity = ''): Template | undefined {
    const leaf = this.leaves.get(this.leafKey(tokens));
    if (!leaf) return undefined;
    return this.best(leaf, tokens, severity)?.template;
  }

  private best(leaf: Template[], tokens: string[], severity: string): { template: Template; sim: number } | undefined {
    let best: Template | undefined;
    let bestSim = -1;
    let bestParams = -1;
    for (const t of leaf) {
      if (t.severity !== undefined && t.severity !== severity) continue;
      // Similarity over the event's constant-looking tokens only: variable ones (with digits or masks:
      // times, node names, ids) agree after masking in every line and would make any two lines of the
      // same length look alike. Positions the template has already generalised do not count either way.
      let same = 0;
      let compared = 0;
      let params = 0;
      for (let i = 0; i < tokens.length; i++) {
        const tt = t.tokens[i]!;
        if (tt === WILDCARD) {
          params++;
          continue;
        }
        if (hasDigitOrMask(tokens[i]!)) continue;
        compared++;
        if (tt === tokens[i]) same++;
      }
      const sim = compared === 0 ? 1 : same / compared;
      if (sim > bestSim || (sim === bestSim && params > bestParams)) {
        best = t;
        bestSim = sim;
        bestParams = params;
      }
    }
    return best && bestSim >= this.options.similarity ? { template: best, sim: bestSim } : undefined;
  }

  /**
   * Adds an event's masked message, as `add` would its tokens (whitespace-separated, then `[SEVERITY]` when
   * `severityToken`, or `<empty>` for none), with the same result; a message that joined a template
   * before, unchanged since, is found without tokenizing or searching.
   */
  addMessage(masked: string, time: number, severity: string, severityToken: boolean): { template: Template; isNew: boolean } {
    const hit = this.matched.get(masked);
    if (hit !== undefined && hit.generation === this.generation && hit.severity === severity && hit.severityToken === severityToken) {
      const t = hit.template;
      t.count++;
      t.lastSeen = time;
      return { template: t, isNew: false };
    }
    const tokens = TemplateMiner.messageTokens(masked, severityToken ? severity : '');
    const generation = this.generation;
    const result = this.add(tokens, time, true, severity);
    if (this.generation === generation && masked.length <= MESSAGE_CACHE_LENGTH) {
      if (this.matched.size >= MESSAGE_CACHE || this.matchedChars + masked.length > MESSAGE_CACHE_CHARS) {
        this.matched.clear();
        this.matchedChars = 0;
      }
      // A message met again after its entry went stale replaces it: its characters are counted once more.
      this.matched.set(masked, { template: result.template, severity, severityToken, generation });
      this.matchedChars += masked.length;
    }
    return result;
  }

  /**
   * Adds an event's tokens: returns its template and whether the template is new. `learn: false` classifies
   * without creating or widening templates (used for events held out of the baseline).
   */
  add(tokens: string[], time: number, learn = true, severity = ''): { template: Template; isNew: boolean } {
    const key = this.leafKey(tokens);
    let leaf = this.leaves.get(key);
    const found = leaf ? this.best(leaf, tokens, severity) : undefined;
    if (found) {
      const t = found.template;
      if (learn) {
        for (let i = 0; i < tokens.length; i++) {
          if (t.tokens[i] !== tokens[i] && t.tokens[i] !== WILDCARD) {
            t.tokens[i] = WILDCARD;
            this.generation++;
          }
        }
      }
      t.count++;
      t.lastSeen = time;
      return { template: t, isNew: false };
    }
    const template: Template = { id: this.nextId++, tokens: tokens.slice(), count: 1, firstSeen: time, lastSeen: time, key, severity };
    this.generation++;
    if (!leaf) {
      leaf = [];
      this.leaves.set(key, leaf);
    }
    if (leaf.length >= this.options.maxClusters) this.evict(leaf);
    leaf.push(template);
    this.byId.set(template.id, template);
    if (this.byId.size > this.options.maxTemplates) this.evictOldest();
    return { template, isNew: true };
  }

  private evict(leaf: Template[]): void {
    let oldest = 0;
    for (let i = 1; i < leaf.length; i++) if (leaf[i]!.lastSeen < leaf[oldest]!.lastSeen) oldest = i;
    const [gone] = leaf.splice(oldest, 1);
    if (gone) this.byId.delete(gone.id);
  }

  private evictOldest(): void {
    let victim: Template | undefined;
    for (const t of this.byId.values()) if (!victim || t.lastSeen < victim.lastSeen) victim = t;
    if (!victim) return;
    this.byId.delete(victim.id);
    const leaf = this.leaves.get(victim.key);
    if (leaf) leaf.splice(leaf.indexOf(victim), 1);
  }

  templates(): Template[] {
    return [...this.byId.values()];
  }

  restore(templates: Template[]): void {
    this.generation++;
    for (const t of templates) {
      const copy = { ...t, tokens: t.tokens.slice() };
      const leaf = this.leaves.get(copy.key) ?? [];
      leaf.push(copy);
      this.leaves.set(copy.key, leaf);
      this.byId.set(copy.id, copy);
      this.nextId = Math.max(this.nextId, copy.id + 1);
    }
  }
}

export function templateText(t: Template): string {
  return t.tokens.join(' ');
}
