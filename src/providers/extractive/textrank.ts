import { isContentWord, tokenize } from './text.js';

/**
 * TextRank sentence ranking (Mihalcea & Tarau, 2004). Sentences are nodes; two sentences are
 * linked with weight |shared content words| / (log|Si| + log|Sj|), and weighted PageRank scores
 * the nodes. Stopwords and numbers are left out of the overlap: shared "the"s say nothing about
 * what two sentences are about.
 */

const DAMPING = 0.85;
// The paper stops at 1e-4; a tighter bound costs a few iterations and separates near-ties.
const TOLERANCE = 1e-6;
const MAX_ITERATIONS = 100;

/**
 * Returns every sentence index, most central first; equal scores keep text order, so the same
 * text always gives the same ranking. Only pairs of sentences that share a word are visited
 * (through a word → sentences index), so typical prose costs far less than n² comparisons; but
 * a word found in every sentence makes the graph complete, so callers must bound n.
 */
export function rankSentences(sentences: readonly string[], stopwords: ReadonlySet<string>): number[] {
  const n = sentences.length;
  const graph = buildGraph(sentences, stopwords);
  const scores = pageRank(graph, n);
  // Quantised so that floating-point noise between symmetric sentences cannot reorder them.
  const key = Array.from(scores, (s) => Math.round(s * 1e9));
  return Array.from({ length: n }, (_, i) => i).sort((a, b) => (key[b] as number) - (key[a] as number) || a - b);
}

/** The symmetric similarity graph in compressed-row form: i's neighbours are cols[rowStart[i] .. rowStart[i+1]). */
interface Graph {
  rowStart: Int32Array;
  cols: Int32Array;
  weights: Float64Array;
}

function buildGraph(sentences: readonly string[], stopwords: ReadonlySet<string>): Graph {
  const n = sentences.length;
  const { lengths, words, postings } = indexWords(sentences, stopwords);
  const rowStart = new Int32Array(n + 1);
  let cols = new Int32Array(Math.max(16, n * 8));
  let weights = new Float64Array(cols.length);
  let edges = 0;
  const overlap = new Int32Array(n);
  const touched = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let count = 0;
    for (const w of words[i] ?? []) {
      const list = postings[w] ?? [];
      for (let p = 0; p < list.length; p++) {
        const j = list[p] as number;
        if (j === i) continue;
        if (overlap[j] === 0) touched[count++] = j;
        overlap[j] = (overlap[j] as number) + 1;
      }
    }
    if (edges + count > cols.length) {
      const size = Math.max(cols.length * 2, edges + count);
      cols = grow(cols, new Int32Array(size));
      weights = grow(weights, new Float64Array(size));
    }
    const logI = Math.log(lengths[i] as number);
    for (let t = 0; t < count; t++) {
      const j = touched[t] as number;
      cols[edges] = j;
      // Two one-word sentences would divide by log 1 + log 1 = 0; a floor of 1 keeps the
      // weight finite and still non-increasing in sentence length.
      weights[edges] = (overlap[j] as number) / Math.max(1, logI + Math.log(lengths[j] as number));
      edges++;
      overlap[j] = 0;
    }
    rowStart[i + 1] = edges;
  }
  return { rowStart, cols, weights };
}

function grow<T extends Int32Array | Float64Array>(from: T, to: T): T {
  to.set(from);
  return to;
}

/** Per sentence, its distinct content-word ids; per word id, the sentences containing it. */
function indexWords(sentences: readonly string[], stopwords: ReadonlySet<string>) {
  const lengths = new Int32Array(sentences.length);
  const ids = new Map<string, number>();
  const words: number[][] = [];
  const postings: number[][] = [];
  sentences.forEach((sentence, i) => {
    const unique = new Set<number>();
    for (const { lower } of tokenize(sentence)) {
      if (!isContentWord(lower, stopwords)) continue;
      lengths[i] = (lengths[i] as number) + 1;
      let id = ids.get(lower);
      if (id === undefined) {
        id = postings.length;
        ids.set(lower, id);
        postings.push([]);
      }
      if (!unique.has(id)) postings[id]?.push(i);
      unique.add(id);
    }
    words.push([...unique]);
  });
  return { lengths, words, postings };
}

function pageRank({ rowStart, cols, weights }: Graph, n: number): Float64Array {
  const outWeight = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let e = rowStart[i] as number; e < (rowStart[i + 1] as number); e++) sum += weights[e] as number;
    outWeight[i] = sum;
  }
  let score = new Float64Array(n).fill(1);
  let next = new Float64Array(n);
  const share = new Float64Array(n);
  for (let iteration = 0; iteration < MAX_ITERATIONS; iteration++) {
    for (let j = 0; j < n; j++) {
      const out = outWeight[j] as number;
      share[j] = out > 0 ? (score[j] as number) / out : 0;
    }
    let delta = 0;
    for (let i = 0; i < n; i++) {
      let sum = 0;
      // The graph is symmetric: the sentences i links to are the ones voting for it.
      for (let e = rowStart[i] as number; e < (rowStart[i + 1] as number); e++) {
        sum += (weights[e] as number) * (share[cols[e] as number] as number);
      }
      const value = 1 - DAMPING + DAMPING * sum;
      delta = Math.max(delta, Math.abs(value - (score[i] as number)));
      next[i] = value;
    }
    [score, next] = [next, score];
    if (delta < TOLERANCE) break;
  }
  return score;
}
