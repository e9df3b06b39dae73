/**
 * Sentence splitting and word tokenisation for the extractive providers. Rule-based on purpose:
 * no model and no dictionary beyond a short abbreviation list, so it behaves the same offline,
 * on any install, for English, German and French prose. It does not try to segment scripts
 * written without spaces (Chinese, Japanese, Thai).
 */

/** A word of a sentence: where it is in that sentence and its lower-cased form for comparisons. */
export interface Token {
  start: number;
  end: number;
  lower: string;
}

// A period after these never ends a sentence: they precede a name or a clause ("Dr. Smith",
// "e.g. apples", "z.B. Äpfel"). Words that also end sentences ("etc.", "usw.", "Inc.") are
// deliberately absent; for them the lower-case-next-word rule decides.
const ABBREVIATIONS: ReadonlySet<string> = new Set(
  (
    'mr mrs ms dr prof sr jr st mt vs e.g i.e cf approx dept gen gov lt col capt sgt rev hon ' +
    'jan feb mar apr jun jul aug sep sept oct nov dec ' +
    'z.b d.h u.a o.ä s.o u.u bzw ca ggf evtl vgl sog inkl zzgl bzgl hr dipl ing str ' +
    'mme mlle mm pr env p.ex'
  ).split(' '),
);

// These are ordinary words too ("I said no."), so they are abbreviations only before a number.
const NUMBER_ABBREVIATIONS: ReadonlySet<string> = new Set('no nos nr p pp vol fig figs art abs s'.split(' '));

// German writes ordinals with a period ("am 3. Oktober"); a date is the common case worth keeping.
const MONTHS: ReadonlySet<string> = new Set(
  (
    'januar februar märz april mai juni juli august september oktober november dezember ' +
    'janvier février mars avril juin juillet août septembre octobre novembre décembre'
  ).split(' '),
);

// Directly after the terminator; “ is a closing quote in German („so“).
const CLOSERS = new Set(['"', "'", '”', '’', '“', '»', '›', ')', ']', '}']);
const OPENERS = new Set(['"', "'", '“', '‘', '„', '«', '‹', '(', '[', '{']);

// Blocks that start a new unit whatever the punctuation before them: bullets, numbered items,
// Markdown headings and quotes. The marker itself is not part of any sentence.
const BLOCK_MARKER = /^\s*(?:#{1,6}\s+|>\s*|[-*+•·]\s+|\d{1,3}[.)]\s+)/u;

/**
 * Splits text into sentences, whitespace inside each collapsed to single spaces. Blank lines,
 * list items and headings always end a sentence; a single line break is just a space, so
 * hard-wrapped paragraphs stay whole. A run of over 1000 characters with no sentence end is cut
 * at a comma or space. Stops after `limit` sentences.
 */
export function splitSentences(text: string, limit = Number.POSITIVE_INFINITY): string[] {
  const out: string[] = [];
  for (const block of blocks(text.normalize('NFC'))) {
    splitBlock(block, out, limit);
    if (out.length >= limit) break;
  }
  return out;
}

function* blocks(text: string): Generator<string> {
  let current: string[] = [];
  let quoting = false;
  for (const line of text.split(/\r\n?|\n/)) {
    const marker = BLOCK_MARKER.exec(line);
    const quote = marker?.[0].trimStart().startsWith('>') === true;
    // Consecutive quoted lines ("> …" in a reply) are one wrapped paragraph, not a list.
    const continues = quote && quoting && line.slice(marker[0].length).trim() !== '';
    quoting = quote;
    if (!continues && (line.trim() === '' || marker !== null)) {
      if (current.length > 0) yield current.join(' ');
      current = [];
    }
    if (marker !== null) {
      const rest = line.slice(marker[0].length);
      // A heading has no terminal punctuation, so without this it would run into the next line.
      if (marker[0].trimStart().startsWith('#')) yield rest;
      else current.push(rest);
    } else if (line.trim() !== '') {
      current.push(line);
    }
  }
  if (current.length > 0) yield current.join(' ');
}

function splitBlock(block: string, out: string[], limit: number): void {
  const s = block.replace(/\s+/gu, ' ').trim();
  let start = 0;
  for (const m of s.matchAll(/[.!?…]+/gu)) {
    if (out.length >= limit) return;
    const punct = m[0];
    let k = m.index + punct.length;
    while (k < s.length && CLOSERS.has(s.charAt(k))) k++;
    // French sets a space before its closing guillemet: « Bonjour ! »
    if (s.charAt(k) === ' ' && (s.charAt(k + 1) === '»' || s.charAt(k + 1) === '›')) k += 2;
    // Not followed by a space: "3.14", "e.g.", "example.com", or the end (handled after the loop).
    if (k >= s.length || s.charAt(k) !== ' ') continue;
    const next = nextWord(s, k + 1);
    if (/^\p{Ll}/u.test(next)) continue;
    if (punct === '.' && isAbbreviation(wordBefore(s, m.index), next)) continue;
    pushSentence(out, s.slice(start, k), limit);
    start = k + 1;
  }
  pushSentence(out, s.slice(start), limit);
}

// Text without punctuation (a speech-to-text transcript, a pasted table) would otherwise be one
// giant "sentence": the summary would return all of it and ranking would have nothing to pick.
const MAX_SENTENCE_CHARS = 1000;

function pushSentence(out: string[], sentence: string, limit: number): void {
  let rest = sentence.trim();
  while (rest.length > MAX_SENTENCE_CHARS && out.length < limit) {
    const window = rest.slice(0, MAX_SENTENCE_CHARS + 1);
    const clause = Math.max(window.lastIndexOf(', '), window.lastIndexOf('; '), window.lastIndexOf(': ')) + 1;
    const space = window.lastIndexOf(' ');
    const cut = clause > MAX_SENTENCE_CHARS / 2 ? clause : space > 0 ? space : MAX_SENTENCE_CHARS;
    out.push(rest.slice(0, cut).trim());
    rest = rest.slice(cut).trim();
  }
  if (rest !== '' && out.length < limit) out.push(rest);
}

function nextWord(s: string, from: number): string {
  let i = from;
  while (i < s.length && OPENERS.has(s.charAt(i))) i++;
  return /^[\p{L}\p{M}\p{N}]*/u.exec(s.slice(i, i + 40))?.[0] ?? '';
}

function wordBefore(s: string, end: number): string {
  return /[\p{L}\p{M}\p{N}.]*$/u.exec(s.slice(Math.max(0, end - 40), end))?.[0] ?? '';
}

function isAbbreviation(word: string, next: string): boolean {
  const lower = word.toLowerCase();
  // Initials ("J. R. Tolkien") and the parts of spaced abbreviations ("z. B.", "d. h.").
  if (/^\p{L}$/u.test(word)) return true;
  if (ABBREVIATIONS.has(lower)) return true;
  if (/^\p{N}/u.test(next)) return NUMBER_ABBREVIATIONS.has(lower);
  return /^\d{1,2}$/u.test(word) && MONTHS.has(next.toLowerCase());
}

// French elisions (l'abeille, qu'il) are split off so the article can be a stopword; other
// apostrophes and hyphens stay inside the word (don't, dit-il, state-of-the-art).
const WORD = /(?:[ldjmnstc]|qu|jusqu|lorsqu|puisqu)['’](?=\p{L})|[\p{L}\p{M}\p{N}]+(?:['’-][\p{L}\p{M}\p{N}]+)*/giu;

/** The words of a sentence, letters and digits of any script, with their positions. */
export function tokenize(sentence: string): Token[] {
  const tokens: Token[] = [];
  for (const m of sentence.matchAll(WORD)) {
    tokens.push({ start: m.index, end: m.index + m[0].length, lower: lowerWord(m[0]) });
  }
  return tokens;
}

// The typographic apostrophe becomes the ASCII one the stopword lists use.
function lowerWord(word: string): string {
  return word.toLowerCase().replace(/’/gu, "'");
}

/**
 * True for a word that can carry meaning: not a stopword, not a number, and not a lone letter
 * (initials and the pieces of "z. B." are not topics).
 */
export function isContentWord(lower: string, stopwords: ReadonlySet<string>): boolean {
  return lower.length > 1 && !stopwords.has(lower) && /\p{L}/u.test(lower);
}
