import { isXmlName, isXmlNameChar, isXmlNameStartChar } from '../core/xml-name.js';
import { PhpFloat, isPlainObject, phpStringCast } from './php-json.js';

/**
 * The OCS XML body as upstream's BaseResponse::toXML writes it through PHP's XMLWriter (libxml2's
 * xmlTextWriter) with setIndent(true): one space per level, a newline after every element.
 *
 * Key rules: an array index or numeric key becomes `<element>`; `@attributes` (array or object)
 * becomes attributes, any other `@name` key one attribute; null and empty arrays/objects become
 * `<k/>`; scalars are PHP string casts (true → "1", false → "", floats with precision 14).
 *
 * Total: it never throws and always writes well-formed XML, where upstream fails or writes broken
 * XML. PHP 8's XMLWriter throws a ValueError on a key that is not an XML name (the whole answer is
 * a 500, after any write the request made), and passes control characters through. Here:
 * - a key that is not an XML name as XMLWriter checks it (core/xml-name.ts) is written with each
 *   character that may not stand where it is as `_xHHHH_` (its code point in hex, `_xHHHHHHHH_`
 *   past U+FFFF: the convention of .NET's XmlConvert.EncodeName and SQL/XML), so `my input` is
 *   `<my_x0020_input>` and `0abc` is `<_x0030_abc>`; the empty key is `<element>`. Valid names are written as they are, so a name
 *   that already spells `_x0020_` reads the same as an encoded one.
 * - text and attribute values lose the characters XML 1.0 cannot carry at all (NUL and the other
 *   C0 controls but tab, newline and carriage return; U+FFFE, U+FFFF; lone surrogates): each
 *   becomes U+FFFD. (PHP would cut the text at a NUL and pass the others through.)
 * - an attribute that was already written on the element, or whose value is an array or object,
 *   is left out (XMLWriter writes the duplicate, which no parser reads; it throws on the array).
 * - other values (functions, symbols, undefined) are written as null; class instances as their own
 *   enumerable properties; nesting past MAX_DEPTH, or a value inside itself, as an empty element.
 * Upstream's `$comment` key (an XML comment) is not followed: no answer here uses it, and a slot
 * of that name registered before names were checked is data, written as `<_x0024_comment>`.
 */
export function renderOcsXml(meta: Record<string, unknown>, data: unknown): string {
  const w = new XmlWriter();
  w.start('ocs');
  const path = new Set<object>();
  writeValue(w, 'meta', meta, path);
  writeValue(w, 'data', data, path);
  w.end();
  return w.toString();
}

// json_encode's default depth; XMLWriter has none, but the recursion here needs a bound.
const MAX_DEPTH = 512;

/** `path` holds the containers being written around this value (its ancestors). */
function writeValue(w: XmlWriter, key: string, value: unknown, path: Set<object>): void {
  w.start(key);
  if (isScalar(value)) {
    w.text(phpStringCast(value));
  } else if (typeof value === 'object' && value !== null && path.size < MAX_DEPTH && !path.has(value)) {
    path.add(value);
    writeChildren(w, value, path);
    path.delete(value);
  }
  w.end();
}

function writeChildren(w: XmlWriter, container: object, path: Set<object>): void {
  if (Array.isArray(container)) {
    for (const item of container) writeValue(w, 'element', item, path);
    return;
  }
  for (const [key, value] of Object.entries(container)) {
    if (key === '@attributes' && (Array.isArray(value) || isPlainObject(value))) {
      for (const [name, attr] of Object.entries(value)) w.attribute(name, attr);
    } else if (key.startsWith('@')) {
      w.attribute(key.slice(1), value);
    } else {
      writeValue(w, isPhpNumeric(key) ? 'element' : key, value, path);
    }
  }
}

type Scalar = string | number | bigint | boolean | PhpFloat;

function isScalar(value: unknown): value is Scalar {
  const type = typeof value;
  return type === 'string' || type === 'number' || type === 'bigint' || type === 'boolean' || value instanceof PhpFloat;
}

// PHP's is_numeric on a string key: optional surrounding whitespace, sign, decimal or exponent form.
const PHP_NUMERIC = /^[ \t\n\r\v\f]*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?[ \t\n\r\v\f]*$/;

function isPhpNumeric(key: string): boolean {
  return PHP_NUMERIC.test(key);
}

/** The key as an XML name: itself when it is one, else with each misplaced character encoded. */
function xmlName(key: string): string {
  if (isXmlName(key)) return key;
  if (key === '') return 'element';
  let name = '';
  // for…of walks code points; a lone surrogate comes as one unit and is encoded like any other.
  for (const char of key) {
    const fits = name === '' ? isXmlNameStartChar(char) : isXmlNameChar(char);
    name += fits ? char : encodedChar(char);
  }
  return name;
}

function encodedChar(char: string): string {
  const cp = char.codePointAt(0)!;
  return `_x${cp
    .toString(16)
    .toUpperCase()
    .padStart(cp > 0xffff ? 8 : 4, '0')}_`;
}

// XML 1.0 Char excludes these; a character reference to one is not well-formed either. Without
// the u flag the class sees UTF-16 units, so a surrogate counts only when its partner is missing.
const NOT_XML_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const HAS_NOT_XML_CHAR = new RegExp(NOT_XML_CHAR.source);

function xmlChars(s: string): string {
  return HAS_NOT_XML_CHAR.test(s) ? s.replace(NOT_XML_CHAR, '\uFFFD') : s;
}

// libxml2 xmlEncodeSpecialChars (element text) and xmlBufAttrSerializeTxtContent (attributes;
// without a document encoding it writes non-ASCII as hex character references).
const TEXT_ESCAPES: Record<string, string> = { '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', '\r': '&#13;' };
const ATTR_ESCAPES: Record<string, string> = { ...TEXT_ESCAPES, '\n': '&#10;', '\t': '&#9;' };

function escapeText(s: string): string {
  return xmlChars(s).replace(/[<>&"\r]/g, (ch) => TEXT_ESCAPES[ch] ?? ch);
}

function escapeAttribute(s: string): string {
  return xmlChars(s).replace(/[<>&"\r\n\t]|[^\u0000-\u007f]/gu, (ch) => ATTR_ESCAPES[ch] ?? `&#x${ch.codePointAt(0)!.toString(16).toUpperCase()};`);
}

/**
 * The part of xmlTextWriter's state machine that BaseResponse exercises, so that indentation,
 * `<k/>` versus `<k></k>`, and late attributes come out as they do upstream. Takes any key and
 * writes it as a name (xmlName).
 */
class XmlWriter {
  // Built by +=, not pushed to an array and joined: the join was most of the time of a 1000-task
  // list (280 → 57 ms per answer, by hand).
  private out = '<?xml version="1.0"?>\n';
  private readonly open: { name: string; hasContent: boolean; attributes: Set<string> | null }[] = [];
  // libxml2's doindent: a closing tag is indented only when an element, not text, came before it.
  private indentClose = false;

  start(key: string): void {
    const name = xmlName(key);
    const parent = this.open.at(-1);
    if (parent && !parent.hasContent) {
      this.out += '>\n';
      parent.hasContent = true;
    }
    this.out += `${' '.repeat(this.open.length)}<${name}`;
    this.open.push({ name, hasContent: false, attributes: null });
  }

  attribute(key: string, value: unknown): void {
    const current = this.open.at(-1);
    // Once the start tag is closed XMLWriter::writeAttribute fails (returns false) and upstream
    // ignores that, so the attribute is dropped.
    if (!current || current.hasContent) return;
    let text: string;
    if (isScalar(value)) text = phpStringCast(value);
    else if (value === null || value === undefined) text = '';
    else return;
    const name = xmlName(key);
    current.attributes ??= new Set();
    if (current.attributes.has(name)) return;
    current.attributes.add(name);
    this.out += ` ${name}="${escapeAttribute(text)}"`;
  }

  text(s: string): void {
    const current = this.open.at(-1)!;
    if (!current.hasContent) {
      this.out += '>';
      current.hasContent = true;
    }
    this.indentClose = false;
    this.out += escapeText(s);
  }

  end(): void {
    const current = this.open.at(-1)!;
    if (!current.hasContent) {
      this.out += '/>';
    } else {
      if (this.indentClose) this.out += ' '.repeat(this.open.length - 1);
      this.out += `</${current.name}>`;
    }
    this.indentClose = true;
    this.out += '\n';
    this.open.pop();
  }

  toString(): string {
    return this.out;
  }
}
