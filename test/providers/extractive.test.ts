import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { extractKeyphrases } from '../../src/providers/extractive/keywords.js';
import { detectLanguage, stopwordsFor } from '../../src/providers/extractive/stopwords.js';
import { isContentWord, splitSentences, tokenize } from '../../src/providers/extractive/text.js';
import { rankSentences } from '../../src/providers/extractive/textrank.js';
import { ENGLISH, FRENCH, GERMAN, SOLAR, SOLAR_CENTRE } from './fixtures.js';

const lowerWords = (text: string): string[] => tokenize(text).map((t) => t.lower);

describe('splitSentences', () => {
  it('keeps titles, initials and decimals inside their sentence', () => {
    assert.deepEqual(splitSentences('Dr. Smith measured pi as 3.14 in the lab. Then J. R. Jones left.'), [
      'Dr. Smith measured pi as 3.14 in the lab.',
      'Then J. R. Jones left.',
    ]);
  });

  it('does not split after e.g., i.e. or a period followed by a lower-case word', () => {
    const text = 'Fruit, e.g. Apples, is healthy, i.e. Good. It is sold at 5 p.m. daily. The U.S. economy grew.';
    assert.deepEqual(splitSentences(text), ['Fruit, e.g. Apples, is healthy, i.e. Good.', 'It is sold at 5 p.m. daily.', 'The U.S. economy grew.']);
  });

  it('ends sentences at !, ?, runs of them and ellipses followed by a capital', () => {
    assert.deepEqual(splitSentences('Was it true?! Nobody knew... maybe not. Wait… What? Yes!'), [
      'Was it true?!',
      'Nobody knew... maybe not.',
      'Wait…',
      'What?',
      'Yes!',
    ]);
  });

  it('keeps closing quotes with their sentence and does not split inside a quoted clause', () => {
    assert.deepEqual(splitSentences('He said "Stop." Then he left. “Really?” she asked.'), ['He said "Stop."', 'Then he left.', '“Really?” she asked.']);
  });

  it('handles German abbreviations, ordinal dates and quotes', () => {
    assert.deepEqual(splitSentences('Er sagte: „Komm!“ und ging. Am 3. Oktober kam er z. B. wieder. Das war’s.'), [
      'Er sagte: „Komm!“ und ging.',
      'Am 3. Oktober kam er z. B. wieder.',
      'Das war’s.',
    ]);
  });

  it('handles French spacing before ! and ? and guillemets', () => {
    assert.deepEqual(splitSentences('« Bonjour ! » dit-il. M. Dupont est là. Ça va ? Très bien.'), [
      '« Bonjour ! » dit-il.',
      'M. Dupont est là.',
      'Ça va ?',
      'Très bien.',
    ]);
  });

  it('treats "no" as an abbreviation only before a number', () => {
    assert.deepEqual(splitSentences('I said no. Then I left. See No. 5 for details.'), ['I said no.', 'Then I left.', 'See No. 5 for details.']);
  });

  it('joins wrapped lines and breaks at blank lines, headings and list items', () => {
    const text = '# Plan\nThe first line is\nwrapped here. Second one\n\nLast paragraph\n- item one\n- item two\n1. Step one';
    assert.deepEqual(splitSentences(text), ['Plan', 'The first line is wrapped here.', 'Second one', 'Last paragraph', 'item one', 'item two', 'Step one']);
  });

  it('joins the wrapped lines of a quoted reply', () => {
    assert.deepEqual(splitSentences('> The meeting moves\n> to Friday. Bring\n> the slides.\n\nThanks'), [
      'The meeting moves to Friday.',
      'Bring the slides.',
      'Thanks',
    ]);
  });

  it('cuts text without sentence ends into pieces at spaces', () => {
    const text = 'and then we went on '.repeat(200);
    const pieces = splitSentences(text);
    assert.ok(pieces.length > 1);
    assert.ok(pieces.every((p) => p.length <= 1000));
    assert.equal(pieces.join(' '), text.trim());
  });

  it('stops after the limit', () => {
    assert.deepEqual(splitSentences('One. Two. Three. Four.', 2), ['One.', 'Two.']);
  });

  it('returns nothing for whitespace', () => {
    assert.deepEqual(splitSentences(' \n\t\n '), []);
  });
});

describe('tokenize', () => {
  it('finds Unicode words, keeps inner apostrophes and hyphens, and splits French elisions', () => {
    assert.deepEqual(lowerWords("L'abeille d’or, don't: state-of-the-art Ärger naïve Straße 42"), [
      "l'",
      'abeille',
      "d'",
      'or',
      "don't",
      'state-of-the-art',
      'ärger',
      'naïve',
      'straße',
      '42',
    ]);
  });

  it('gives offsets into the sentence', () => {
    const sentence = 'Grüße aus Köln';
    assert.deepEqual(
      tokenize(sentence).map((t) => sentence.slice(t.start, t.end)),
      ['Grüße', 'aus', 'Köln'],
    );
  });

  it('counts neither stopwords, numbers nor lone letters as content', () => {
    const en = stopwordsFor('en');
    assert.deepEqual(
      ['the', '2030', 'z', 'honeybee'].map((w) => isContentWord(w, en)),
      [false, false, false, true],
    );
  });
});

describe('detectLanguage', () => {
  it('recognises English, German and French by their stopwords', () => {
    assert.equal(detectLanguage(lowerWords(ENGLISH)), 'en');
    assert.equal(detectLanguage(lowerWords(GERMAN)), 'de');
    assert.equal(detectLanguage(lowerWords(FRENCH)), 'fr');
  });

  it('defaults to English when no list matches', () => {
    assert.equal(detectLanguage(lowerWords('Xylophone zebra quokka')), 'en');
  });
});

describe('rankSentences', () => {
  it('ranks the sentence that ties the text together first', () => {
    const sentences = splitSentences(SOLAR);
    assert.equal(sentences[rankSentences(sentences, stopwordsFor('en'))[0] ?? -1], SOLAR_CENTRE);
  });

  it('returns every index once', () => {
    const sentences = splitSentences(ENGLISH);
    const ranked = rankSentences(sentences, stopwordsFor('en'));
    assert.deepEqual(
      [...ranked].sort((a, b) => a - b),
      sentences.map((_, i) => i),
    );
  });

  it('breaks ties by position', () => {
    assert.deepEqual(rankSentences(['Bees fly.', 'Bees fly.', 'Bees fly.'], stopwordsFor('en')), [0, 1, 2]);
    assert.deepEqual(rankSentences(['Alpha.', 'Beta.', 'Gamma.'], stopwordsFor('en')), [0, 1, 2]);
  });
});

describe('extractKeyphrases', () => {
  const en = stopwordsFor('en');

  it('puts the dominant subject first', () => {
    const [first] = extractKeyphrases(splitSentences(SOLAR), en, 5);
    assert.match(first ?? '', /solar panels/i);
  });

  it('returns phrases of at most three words, split at stopwords and punctuation, as written', () => {
    const phrases = extractKeyphrases(splitSentences(ENGLISH), en, 50);
    assert.ok(phrases.length > 5);
    for (const phrase of phrases) {
      const words = lowerWords(phrase);
      assert.ok(words.length >= 1 && words.length <= 3, phrase);
      assert.ok(
        words.every((w) => isContentWord(w, en)),
        phrase,
      );
      assert.ok(ENGLISH.includes(phrase), phrase);
    }
  });

  it('cuts a long run to its strongest three words instead of dropping it', () => {
    const sentences = ['Open source cloud storage server software.', 'Cloud storage matters.'];
    const phrases = extractKeyphrases(sentences, en, 5);
    assert.ok(
      phrases.some((p) => /cloud storage/i.test(p)),
      phrases.join(' | '),
    );
  });

  it('merges case variants, keeping the first occurrence', () => {
    const phrases = extractKeyphrases(['Solar panels!', 'We like solar panels.', 'SOLAR PANELS, again.'], en, 5);
    assert.deepEqual(phrases, ['Solar panels']);
  });

  it('returns nothing when every word is a stopword or a number', () => {
    assert.deepEqual(extractKeyphrases(['It is what it is, 2024.'], en, 5), []);
  });
});
