import { setImmediate as nextTurn } from 'node:timers/promises';
import { ProviderError, providerInfo, type InProcessProvider, type ProcessContext } from '../core/provider.js';
import type { TaskIO } from '../core/shapes.js';
import { extractKeyphrases } from './extractive/keywords.js';
import { detectLanguage, stopwordsFor } from './extractive/stopwords.js';
import { splitSentences, tokenize } from './extractive/text.js';
import { rankSentences } from './extractive/textrank.js';

/**
 * Providers that work on a fresh install with no network and no model. They only ever select
 * from the input (sentences for the summary and headline, phrases for topics) and their names
 * say so, so nobody mistakes their output for a language model's.
 */
export function offlineProviders(): InProcessProvider[] {
  return [
    extractive({
      id: 'taskproc:extractive:summary',
      name: 'Extractive summary (offline, no language model)',
      taskType: 'core:text2text:summary',
      verb: 'summarize',
      produce: summarize,
    }),
    extractive({
      id: 'taskproc:extractive:headline',
      name: 'Extractive headline (offline, no language model)',
      taskType: 'core:text2text:headline',
      verb: 'write a headline for',
      produce: headline,
    }),
    extractive({
      id: 'taskproc:extractive:topics',
      name: 'Keyword topics (offline, no language model)',
      taskType: 'core:text2text:topics',
      verb: 'extract topics from',
      produce: topics,
    }),
  ];
}

// Only the first 1000 sentences (some 20 pages) are read, whatever the input size. TextRank
// visits only sentence pairs that share a word, but a word in every sentence (a log, a
// repeated signature) makes that all n² pairs: with 1000 such sentences a task still takes
// about 0.3 s on a slow two-core machine, with 2000 the ranking alone took about 1 s. The
// opening of a long document is also where it states its subject.
const MAX_SENTENCES = 1000;
const MAX_SUMMARY_SENTENCES = 7;
const MAX_HEADLINE_WORDS = 12;
// A clause boundary this far into the headline is a better cut than the hard word limit.
const MIN_HEADLINE_CLAUSE_WORDS = 6;
const MAX_TOPICS = 5;

interface Analysis {
  sentences: string[];
  stopwords: ReadonlySet<string>;
}

interface ExtractiveSpec {
  id: string;
  name: string;
  taskType: string;
  /** Completes "there is nothing to …" in the message for empty input. */
  verb: string;
  produce(analysis: Analysis, ctx: ProcessContext): Promise<string>;
}

function extractive({ id, name, taskType, verb, produce }: ExtractiveSpec): InProcessProvider {
  return {
    ...providerInfo({ id, name, taskType, expectedRuntime: 1 }),
    async process(input: TaskIO, ctx: ProcessContext): Promise<TaskIO> {
      ctx.signal.throwIfAborted();
      const text = input.input;
      if (typeof text !== 'string') throw new ProviderError(`input.input must be a string, got ${typeof text}`);
      const sentences = splitSentences(text, MAX_SENTENCES);
      if (sentences.length === 0) {
        throw new ProviderError('Input text is empty', `The text is empty: there is nothing to ${verb}`);
      }
      const stopwords = stopwordsFor(detectLanguage(lowerWords(sentences)));
      await checkpoint(ctx);
      const output = await produce({ sentences, stopwords }, ctx);
      ctx.reportProgress(1);
      return { output };
    },
  };
}

function* lowerWords(sentences: readonly string[]): Generator<string> {
  for (const sentence of sentences) for (const token of tokenize(sentence)) yield token.lower;
}

/**
 * The work is synchronous, so a cancellation can only be seen if the event loop gets a turn;
 * yielding between phases lets the runner's abort land before the next phase starts.
 */
async function checkpoint(ctx: ProcessContext): Promise<void> {
  await nextTurn();
  ctx.signal.throwIfAborted();
}

async function summarize({ sentences, stopwords }: Analysis, ctx: ProcessContext): Promise<string> {
  if (sentences.length <= 2) return sentences.join(' ');
  const ranked = rankSentences(sentences, stopwords);
  ctx.reportProgress(0.5);
  await checkpoint(ctx);
  const wanted = Math.min(MAX_SUMMARY_SENTENCES, Math.max(1, Math.round(sentences.length / 3)));
  const chosen: number[] = [];
  const seen = new Set<string>();
  for (const i of ranked) {
    if (chosen.length >= wanted) break;
    const sentence = sentences[i] ?? '';
    // Repeated boilerplate (signatures, disclaimers) would otherwise fill the summary twice.
    if (seen.has(sentence)) continue;
    seen.add(sentence);
    chosen.push(i);
  }
  return chosen
    .sort((a, b) => a - b)
    .map((i) => sentences[i])
    .join(' ');
}

async function headline({ sentences, stopwords }: Analysis, ctx: ProcessContext): Promise<string> {
  const top = sentences.length === 1 ? 0 : (rankSentences(sentences, stopwords)[0] ?? 0);
  ctx.reportProgress(0.5);
  await checkpoint(ctx);
  return headlineOf(sentences[top] ?? '', stopwords);
}

/** Cuts at a word boundary and never adds an ellipsis: every word is the sentence's own. */
function headlineOf(sentence: string, stopwords: ReadonlySet<string>): string {
  let words = sentence.split(' ');
  if (words.length > MAX_HEADLINE_WORDS) words = shorten(words, stopwords);
  const cut = words.join(' ');
  // Final punctuation goes, but a closing quote or bracket stays: `said "stop."` → `said "stop"`.
  const trimmed = cut.replace(/\s*[.!?…,;:–—-]+(\s*["'”’“»)\]]*)$/u, '$1').trim();
  return trimmed === '' ? cut : trimmed;
}

function shorten(words: readonly string[], stopwords: ReadonlySet<string>): string[] {
  // A clause boundary (comma, closing quote, dash) far enough in reads better than the hard limit.
  for (let i = MAX_HEADLINE_WORDS - 1; i >= MIN_HEADLINE_CLAUSE_WORDS - 1; i--) {
    if (/[,;:!?)»”"]$/u.test(words[i] ?? '') || /^[–—]$/u.test(words[i + 1] ?? '')) return words.slice(0, i + 1);
  }
  const cut = words.slice(0, MAX_HEADLINE_WORDS);
  // Nor should it stop on "of the" or an initial ("explique M.").
  while (cut.length > MIN_HEADLINE_CLAUSE_WORDS) {
    const last = (cut[cut.length - 1] ?? '').replace(/[^\p{L}\p{M}\p{N}'’]/gu, '').toLowerCase();
    if (last.length > 1 && !stopwords.has(last)) break;
    cut.pop();
  }
  return cut;
}

async function topics({ sentences, stopwords }: Analysis, ctx: ProcessContext): Promise<string> {
  const phrases = extractKeyphrases(sentences, stopwords, MAX_TOPICS);
  ctx.reportProgress(0.5);
  await checkpoint(ctx);
  if (phrases.length === 0) {
    throw new ProviderError('No keyphrase candidates: every word is a stopword or a number', 'No topics could be found in the text');
  }
  return phrases.join(', ');
}
