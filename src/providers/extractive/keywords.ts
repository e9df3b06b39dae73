import { isContentWord, tokenize } from './text.js';

/**
 * RAKE keyphrase extraction (Rose, Engel, Cramer & Cowley, 2010). Candidate phrases are the runs
 * of words between stopwords, numbers and punctuation; each word scores its degree (how many
 * words it shares candidates with, itself included), and a phrase scores the sum of its words.
 *
 * The paper offers deg(w), freq(w) and deg(w)/freq(w) as word scores. deg/freq ranks a phrase
 * met once above the term a text keeps coming back to, which is the wrong way round for topics;
 * deg(w) grows with both frequency and co-occurrence, so the dominant subject comes first.
 */

const MAX_PHRASE_WORDS = 3;

interface Candidate {
  /** Lower-cased words, in order. */
  words: string[];
  /** As written (whitespace aside, which sentence splitting already collapsed). */
  text: string;
}

/**
 * The best `limit` keyphrases, each at most three words and written as at its first
 * occurrence. Case-insensitive duplicates are merged, and a phrase sharing a word with a
 * better one is skipped: the strongest word recurs in many candidates, and without this
 * "honeybee colony", "rent honeybee" and "honeybee health" would fill every slot.
 */
export function extractKeyphrases(sentences: readonly string[], stopwords: ReadonlySet<string>, limit: number): string[] {
  const candidates = sentences.flatMap((s) => candidatesOf(s, stopwords));
  const score = wordScores(candidates);

  const phrases = new Map<string, { text: string; score: number; first: number }>();
  candidates.forEach((candidate, position) => {
    const kept = bestWindow(candidate, score);
    const key = kept.words.join(' ');
    if (!phrases.has(key)) {
      const total = kept.words.reduce((sum, w) => sum + (score.get(w) ?? 0), 0);
      phrases.set(key, { text: kept.text, score: total, first: position });
    }
  });

  const ranked = [...phrases].sort(([, a], [, b]) => b.score - a.score || a.first - b.first);
  const chosen: string[] = [];
  const used = new Set<string>();
  for (const [key, { text }] of ranked) {
    if (chosen.length >= limit) break;
    const words = key.split(' ');
    if (words.some((w) => used.has(w))) continue;
    for (const w of words) used.add(w);
    chosen.push(text);
  }
  return chosen;
}

function candidatesOf(sentence: string, stopwords: ReadonlySet<string>): Candidate[] {
  const out: Candidate[] = [];
  const tokens = tokenize(sentence);
  let runStart = -1;
  const flush = (endToken: number): void => {
    if (runStart < 0) return;
    const run = tokens.slice(runStart, endToken);
    const first = run[0];
    const last = run[run.length - 1];
    if (first !== undefined && last !== undefined) {
      out.push({ words: run.map((t) => t.lower), text: sentence.slice(first.start, last.end) });
    }
    runStart = -1;
  };
  tokens.forEach((token, i) => {
    const previous = tokens[i - 1];
    // Anything but a space between two words (comma, dash, quote, bracket) ends the phrase.
    if (previous !== undefined && sentence.slice(previous.end, token.start) !== ' ') flush(i);
    if (!isContentWord(token.lower, stopwords)) flush(i);
    else if (runStart < 0) runStart = i;
  });
  flush(tokens.length);
  return out;
}

function wordScores(candidates: readonly Candidate[]): Map<string, number> {
  const degree = new Map<string, number>();
  for (const { words } of candidates) {
    // Co-occurrence is counted only up to the longest phrase we return: otherwise one long run
    // ("town hall sells surplus electricity") outweighs a subject the text repeats.
    const span = Math.min(words.length, MAX_PHRASE_WORDS);
    for (const w of words) degree.set(w, (degree.get(w) ?? 0) + span);
  }
  return degree;
}

/**
 * A candidate longer than the cap is cut to its best-scoring window of consecutive words rather
 * than dropped, so a long noun chain still yields its core ("server admin settings page" →
 * its strongest three words in a row).
 */
function bestWindow(candidate: Candidate, score: ReadonlyMap<string, number>): Candidate {
  if (candidate.words.length <= MAX_PHRASE_WORDS) return candidate;
  const tokens = tokenize(candidate.text);
  let best = 0;
  let bestScore = Number.NEGATIVE_INFINITY;
  for (let i = 0; i + MAX_PHRASE_WORDS <= tokens.length; i++) {
    let sum = 0;
    for (let k = i; k < i + MAX_PHRASE_WORDS; k++) sum += score.get(tokens[k]?.lower ?? '') ?? 0;
    if (sum > bestScore) [best, bestScore] = [i, sum];
  }
  const window = tokens.slice(best, best + MAX_PHRASE_WORDS);
  const start = window[0]?.start ?? 0;
  const end = window[window.length - 1]?.end ?? candidate.text.length;
  return { words: window.map((t) => t.lower), text: candidate.text.slice(start, end) };
}
