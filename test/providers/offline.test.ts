import { providerContext } from '../helpers/providers.js';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProviderError, type InProcessProvider } from '../../src/core/provider.js';
import { offlineProviders } from '../../src/providers/offline.js';
import { detectLanguage, stopwordsFor } from '../../src/providers/extractive/stopwords.js';
import { splitSentences, tokenize } from '../../src/providers/extractive/text.js';
import { ENGLISH, FRENCH, GERMAN, SOLAR, SOLAR_CENTRE } from './fixtures.js';

function provider(taskType: string): InProcessProvider {
  const found = offlineProviders().find((p) => p.taskType === taskType);
  assert.ok(found, taskType);
  return found;
}

const context = providerContext;

async function run(taskType: string, input: string): Promise<string> {
  const { output } = await provider(taskType).process({ input }, context());
  assert.equal(typeof output, 'string');
  return output as string;
}

/** The indices of the text's sentences that, joined by spaces, make up `summary`; throws if there are none. */
function sentencesOf(summary: string, text: string): number[] {
  const sentences = splitSentences(text);
  const picked: number[] = [];
  let at = 0;
  sentences.forEach((sentence, i) => {
    const end = at + sentence.length;
    if (summary.startsWith(sentence, at) && (end === summary.length || summary[end] === ' ')) {
      picked.push(i);
      at += sentence.length + 1;
    }
  });
  assert.ok(at >= summary.length, `not made of the text's sentences in order: ${summary}`);
  return picked;
}

/** True when the headline is the first words of one of the text's sentences, final punctuation aside. */
function isHeadOfSentence(headline: string, text: string): boolean {
  const bare = (w: string): string => w.replace(/[^\p{L}\p{M}\p{N}]/gu, '');
  const head = headline.split(' ');
  return splitSentences(text).some((sentence) => {
    const words = sentence.split(' ');
    return head.length <= words.length && head.every((w, i) => (i < head.length - 1 ? w === words[i] : bare(w) === bare(words[i] ?? '')));
  });
}

const SUMMARY = 'core:text2text:summary';
const HEADLINE = 'core:text2text:headline';
const TOPICS = 'core:text2text:topics';

describe('offlineProviders', () => {
  it('declares three extractive providers, named so nobody takes them for a language model', () => {
    const providers = offlineProviders();
    assert.deepEqual(
      providers.map((p) => [p.id, p.taskType, p.expectedRuntime]),
      [
        ['taskproc:extractive:summary', SUMMARY, 1],
        ['taskproc:extractive:headline', HEADLINE, 1],
        ['taskproc:extractive:topics', TOPICS, 1],
      ],
    );
    for (const p of providers) assert.match(p.name, /\(offline, no language model\)$/);
    assert.deepEqual(providers[0]?.optionalInputShape, {});
  });
});

describe('extractive summary', () => {
  for (const [language, text] of [
    ['English', ENGLISH],
    ['German', GERMAN],
  ] as const) {
    it(`${language}: picks about a third of the sentences, verbatim and in text order`, async () => {
      const summary = await run(SUMMARY, text);
      const picked = sentencesOf(summary, text);
      assert.equal(picked.length, Math.round(splitSentences(text).length / 3));
      assert.ok(summary.length < text.length);
    });
  }

  it('includes the sentence the rest of the text revolves around', async () => {
    assert.ok((await run(SUMMARY, SOLAR)).includes(SOLAR_CENTRE));
  });

  it('returns a text of one or two sentences as it is', async () => {
    assert.equal(await run(SUMMARY, '  Bees fly.\nThey make honey.  '), 'Bees fly. They make honey.');
  });

  it('reports progress up to done', async () => {
    const ctx = context();
    await provider(SUMMARY).process({ input: ENGLISH }, ctx);
    assert.deepEqual(ctx.progress, [0.5, 1]);
  });

  it('is deterministic', async () => {
    assert.equal(await run(SUMMARY, ENGLISH), await run(SUMMARY, ENGLISH));
  });
});

describe('extractive headline', () => {
  for (const [language, text] of [
    ['English', ENGLISH],
    ['German', GERMAN],
    ['French', FRENCH],
  ] as const) {
    it(`${language}: is the first words (at most 12) of one of the text's sentences, unpunctuated`, async () => {
      const headline = await run(HEADLINE, text);
      assert.ok(isHeadOfSentence(headline, text), headline);
      assert.ok(headline.split(' ').length <= 12, headline);
      assert.doesNotMatch(headline, /[.!?…,;:]$/u);
    });
  }

  it('comes from the central sentence, cut at its clause boundary', async () => {
    assert.equal(await run(HEADLINE, SOLAR), 'Rooftop solar panels now power the town hall');
  });

  it('keeps a short sentence whole', async () => {
    assert.equal(await run(HEADLINE, 'Honeybees are in trouble!'), 'Honeybees are in trouble');
  });
});

describe('keyword topics', () => {
  for (const [language, text] of [
    ['English', ENGLISH],
    ['German', GERMAN],
  ] as const) {
    it(`${language}: lists up to five phrases of the text, comma-separated, none made of stopwords`, async () => {
      const topics = (await run(TOPICS, text)).split(', ');
      assert.ok(topics.length >= 1 && topics.length <= 5, topics.join(' | '));
      const stopwords = stopwordsFor(detectLanguage(tokenize(text).map((t) => t.lower)));
      for (const topic of topics) {
        assert.ok(text.toLowerCase().includes(topic.toLowerCase()), topic);
        assert.ok(
          tokenize(topic).every((t) => !stopwords.has(t.lower)),
          topic,
        );
      }
      assert.equal(new Set(topics.map((t) => t.toLowerCase())).size, topics.length);
    });
  }

  it('puts the dominant subject first', async () => {
    const [first] = (await run(TOPICS, SOLAR)).split(', ');
    assert.match(first ?? '', /solar panels/i);
  });

  it('fails with a message for the user when no word can be a topic', async () => {
    await assert.rejects(provider(TOPICS).process({ input: 'It is what it is.' }, context()), (err: unknown) => {
      assert.ok(err instanceof ProviderError);
      assert.match(err.userFacingMessage ?? '', /No topics/);
      return true;
    });
  });
});

describe('all offline providers', () => {
  for (const p of offlineProviders()) {
    it(`${p.id}: rejects empty or whitespace-only input with a message for the user`, async () => {
      for (const input of ['', ' \n\t ']) {
        await assert.rejects(p.process({ input }, context()), (err: unknown) => {
          assert.ok(err instanceof ProviderError);
          assert.match(err.userFacingMessage ?? '', /^The text is empty: there is nothing to /);
          return true;
        });
      }
    });

    it(`${p.id}: rejects input that is not a string`, async () => {
      await assert.rejects(p.process({ input: 42 }, context()), ProviderError);
    });

    it(`${p.id}: rejects when the signal is already aborted`, async () => {
      const controller = new AbortController();
      controller.abort();
      await assert.rejects(p.process({ input: ENGLISH }, context(controller.signal)), { name: 'AbortError' });
    });

    it(`${p.id}: stops at the next phase when aborted while running`, async () => {
      const controller = new AbortController();
      const pending = p.process({ input: ENGLISH }, context(controller.signal));
      controller.abort();
      await assert.rejects(pending, { name: 'AbortError' });
    });

    it(`${p.id}: finishes on 2 MB of text`, async () => {
      const paragraph = `${ENGLISH}\n\n${GERMAN}\n\n`;
      const big = paragraph.repeat(Math.ceil(2_000_000 / paragraph.length));
      const { output } = await p.process({ input: big }, context());
      assert.equal(typeof output, 'string');
      assert.ok((output as string).length > 0);
    });
  }
});
