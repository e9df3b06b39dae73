/**
 * A strict, small XML 1.0 reader for tests: it reads what the OCS XML writer produces (a
 * declaration, elements, attributes, text, character and predefined entity references) and throws
 * on anything that is not well-formed: a character XML cannot carry, a bad name, a reference to a
 * character XML cannot carry, an unknown entity, a duplicate attribute, a mismatched end tag.
 * Written apart from src/ (code-point ranges, not the source's regular expressions), so that it
 * checks the writer rather than repeating it.
 */

export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  /** The element's own text (not its children's), references decoded. */
  text: string;
}

export class XmlError extends Error {
  override name = 'XmlError';
}

/** Parses a whole document and returns its root element; throws XmlError when it is not well-formed. */
export function parseXml(doc: string): XmlElement {
  for (const char of doc) {
    if (!isChar(char.codePointAt(0)!)) throw new XmlError(`character U+${hex(char)} is not allowed in XML`);
  }
  const r = new Reader(doc);
  if (r.startsWith('<?xml')) {
    const end = doc.indexOf('?>');
    if (end < 0 || !/^<\?xml\s+version="1\.[0-9]+"(\s+encoding="[A-Za-z][A-Za-z0-9._-]*")?(\s+standalone="(yes|no)")?\s*\?>$/.test(doc.slice(0, end + 2))) {
      throw new XmlError('malformed XML declaration');
    }
    r.pos = end + 2;
  }
  r.skipSpace();
  const root = readElement(r);
  r.skipSpace();
  if (r.pos !== doc.length) throw new XmlError(`content after the root element at ${r.pos}`);
  return root;
}

/** The first child named `name`, or an error naming what is there. */
export function child(el: XmlElement, name: string): XmlElement {
  const found = el.children.find((c) => c.name === name);
  if (!found) throw new XmlError(`<${el.name}> has no <${name}> (it has ${el.children.map((c) => `<${c.name}>`).join(' ') || 'no children'})`);
  return found;
}

/** Follows a path of child names from `el`. */
export function at(el: XmlElement, ...names: string[]): XmlElement {
  return names.reduce(child, el);
}

class Reader {
  pos = 0;
  constructor(readonly s: string) {}
  startsWith(t: string): boolean {
    return this.s.startsWith(t, this.pos);
  }
  peek(): string {
    return this.s[this.pos] ?? '';
  }
  expect(t: string): void {
    if (!this.startsWith(t)) throw new XmlError(`expected "${t}" at ${this.pos}, found "${this.s.slice(this.pos, this.pos + 20)}"`);
    this.pos += t.length;
  }
  skipSpace(): boolean {
    const start = this.pos;
    while (/[ \t\r\n]/.test(this.peek())) this.pos++;
    return this.pos > start;
  }
}

function readElement(r: Reader): XmlElement {
  r.expect('<');
  const name = readName(r);
  const attributes: Record<string, string> = {};
  for (;;) {
    const spaced = r.skipSpace();
    if (r.startsWith('/>')) {
      r.pos += 2;
      return { name, attributes, children: [], text: '' };
    }
    if (r.startsWith('>')) {
      r.pos++;
      break;
    }
    if (!spaced) throw new XmlError(`expected a space before the attribute at ${r.pos}`);
    const attr = readName(r);
    if (Object.hasOwn(attributes, attr)) throw new XmlError(`duplicate attribute "${attr}" on <${name}>`);
    r.skipSpace();
    r.expect('=');
    r.skipSpace();
    const quote = r.peek();
    if (quote !== '"' && quote !== "'") throw new XmlError(`attribute "${attr}" value is not quoted`);
    r.pos++;
    let value = '';
    while (r.peek() !== quote) {
      const c = r.peek();
      if (c === '') throw new XmlError('unterminated attribute value');
      if (c === '<') throw new XmlError(`"<" in the value of attribute "${attr}"`);
      if (c === '&') value += readReference(r);
      else {
        // Attribute-value normalisation: literal white space becomes a space.
        value += /[\t\r\n]/.test(c) ? ' ' : c;
        r.pos++;
      }
    }
    r.pos++;
    attributes[attr] = value;
  }
  const children: XmlElement[] = [];
  let text = '';
  for (;;) {
    if (r.startsWith('</')) {
      r.pos += 2;
      const end = readName(r);
      if (end !== name) throw new XmlError(`</${end}> closes <${name}>`);
      r.skipSpace();
      r.expect('>');
      return { name, attributes, children, text };
    }
    const c = r.peek();
    if (c === '') throw new XmlError(`<${name}> is not closed`);
    if (c === '<') children.push(readElement(r));
    else if (c === '&') text += readReference(r);
    else {
      if (r.startsWith(']]>')) throw new XmlError('"]]>" in text');
      text += c;
      r.pos++;
    }
  }
}

const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function readReference(r: Reader): string {
  const m = /^&(?:#x([0-9A-Fa-f]+)|#([0-9]+)|([^;&<\s]+));/.exec(r.s.slice(r.pos, r.pos + 40));
  if (!m) throw new XmlError(`malformed reference at ${r.pos}`);
  r.pos += m[0].length;
  if (m[3] !== undefined) {
    const text = PREDEFINED[m[3]];
    if (text === undefined) throw new XmlError(`unknown entity "&${m[3]};"`);
    return text;
  }
  const cp = m[1] !== undefined ? Number.parseInt(m[1], 16) : Number.parseInt(m[2]!, 10);
  if (!isChar(cp)) throw new XmlError(`reference to U+${cp.toString(16).toUpperCase()}, which XML cannot carry`);
  return String.fromCodePoint(cp);
}

function readName(r: Reader): string {
  const start = r.pos;
  let first = true;
  while (r.pos < r.s.length) {
    const cp = r.s.codePointAt(r.pos)!;
    if (!(first ? isNameStart(cp) : isNameStart(cp) || isNamePart(cp))) break;
    r.pos += cp > 0xffff ? 2 : 1;
    first = false;
  }
  if (r.pos === start) throw new XmlError(`expected a name at ${start}, found "${r.s.slice(start, start + 20)}"`);
  return r.s.slice(start, r.pos);
}

const within = (cp: number, ranges: readonly (readonly [number, number])[]) => ranges.some(([lo, hi]) => cp >= lo && cp <= hi);

// XML 1.0 fifth edition, §2.2 Char and §2.3 NameStartChar / NameChar.
const CHAR: readonly (readonly [number, number])[] = [
  [0x9, 0xa],
  [0xd, 0xd],
  [0x20, 0xd7ff],
  [0xe000, 0xfffd],
  [0x10000, 0x10ffff],
];
const NAME_START: readonly (readonly [number, number])[] = [
  [0x3a, 0x3a],
  [0x41, 0x5a],
  [0x5f, 0x5f],
  [0x61, 0x7a],
  [0xc0, 0xd6],
  [0xd8, 0xf6],
  [0xf8, 0x2ff],
  [0x370, 0x37d],
  [0x37f, 0x1fff],
  [0x200c, 0x200d],
  [0x2070, 0x218f],
  [0x2c00, 0x2fef],
  [0x3001, 0xd7ff],
  [0xf900, 0xfdcf],
  [0xfdf0, 0xfffd],
  [0x10000, 0xeffff],
];
const NAME_PART: readonly (readonly [number, number])[] = [
  [0x2d, 0x2e],
  [0x30, 0x39],
  [0xb7, 0xb7],
  [0x300, 0x36f],
  [0x203f, 0x2040],
];

const isChar = (cp: number) => within(cp, CHAR);
const isNameStart = (cp: number) => within(cp, NAME_START);
const isNamePart = (cp: number) => within(cp, NAME_PART);
const hex = (char: string) => char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
