import { PhpFloat, isPlainObject, phpStringCast } from './php-json.js';

/**
 * The OCS XML body as upstream's BaseResponse::toXML writes it through PHP's XMLWriter (libxml2's
 * xmlTextWriter) with setIndent(true): one space per level, a newline after every element.
 *
 * Key rules: an array index or numeric key becomes `<element>`; `@attributes` (array or object)
 * becomes attributes, any other `@name` key one attribute; null and empty arrays/objects become
 * `<k/>`; scalars are PHP string casts (true → "1", false → "", floats with precision 14).
 * Throws, as PHP's XMLWriter does, on a key that is not a valid XML name.
 */
export function renderOcsXml(meta: Record<string, unknown>, data: unknown): string {
  const w = new XmlWriter();
  w.start('ocs');
  writeValue(w, 'meta', meta);
  writeValue(w, 'data', data);
  w.end();
  return w.toString();
}

function writeValue(w: XmlWriter, key: string, value: unknown): void {
  if (value === null || value === undefined) {
    w.start(key);
    w.end();
  } else if (Array.isArray(value) || isPlainObject(value)) {
    w.start(key);
    writeChildren(w, value);
    w.end();
  } else {
    w.start(key);
    w.text(scalarString(value));
    w.end();
  }
}

function writeChildren(w: XmlWriter, container: unknown[] | Record<string, unknown>): void {
  if (Array.isArray(container)) {
    for (const item of container) writeValue(w, 'element', item);
    return;
  }
  for (const [key, value] of Object.entries(container)) {
    if (key === '@attributes' && (Array.isArray(value) || isPlainObject(value))) {
      for (const [name, attr] of Object.entries(value)) w.attribute(name, scalarString(attr));
    } else if (key.startsWith('@')) {
      w.attribute(key.slice(1), scalarString(value));
    } else {
      writeValue(w, isPhpNumeric(key) ? 'element' : key, value);
    }
  }
}

function scalarString(value: unknown): string {
  if (
    value instanceof PhpFloat ||
    typeof value === 'string' ||
    typeof value === 'number' ||
    typeof value === 'bigint' ||
    typeof value === 'boolean'
  ) {
    return phpStringCast(value);
  }
  throw new TypeError(`OCS XML: cannot write a ${value === null ? 'null' : typeof value} as text`);
}

// PHP's is_numeric on a string key: optional surrounding whitespace, sign, decimal or exponent form.
const PHP_NUMERIC = /^[ \t\n\r\v\f]*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?[ \t\n\r\v\f]*$/;

function isPhpNumeric(key: string): boolean {
  return PHP_NUMERIC.test(key);
}

// XML 1.0 Name production: what XMLWriter accepts for element and attribute names.
const NAME_START = ':A-Z_a-z\\u00C0-\\u00D6\\u00D8-\\u00F6\\u00F8-\\u02FF\\u0370-\\u037D\\u037F-\\u1FFF\\u200C-\\u200D\\u2070-\\u218F\\u2C00-\\u2FEF\\u3001-\\uD7FF\\uF900-\\uFDCF\\uFDF0-\\uFFFD\\u{10000}-\\u{EFFFF}';
const XML_NAME = new RegExp(`^[${NAME_START}][${NAME_START}\\-.0-9\\u00B7\\u0300-\\u036F\\u203F-\\u2040]*$`, 'u');

function checkName(name: string): string {
  if (!XML_NAME.test(name)) throw new TypeError(`OCS XML: "${name}" is not a valid XML name`);
  return name;
}

// libxml2 xmlEncodeSpecialChars (element text) and xmlBufAttrSerializeTxtContent (attributes;
// without a document encoding it writes non-ASCII as hex character references).
const TEXT_ESCAPES: Record<string, string> = { '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', '\r': '&#13;' };
const ATTR_ESCAPES: Record<string, string> = { ...TEXT_ESCAPES, '\n': '&#10;', '\t': '&#9;' };

function escapeText(s: string): string {
  return s.replace(/[<>&"\r]/g, (ch) => TEXT_ESCAPES[ch] ?? ch);
}

function escapeAttribute(s: string): string {
  return s.replace(/[<>&"\r\n\t]|[^\u0000-\u007f]/gu, (ch) => ATTR_ESCAPES[ch] ?? `&#x${ch.codePointAt(0)!.toString(16).toUpperCase()};`);
}

/**
 * The part of xmlTextWriter's state machine that BaseResponse exercises, so that indentation,
 * `<k/>` versus `<k></k>`, and late attributes come out as they do upstream.
 */
class XmlWriter {
  private readonly out: string[] = ['<?xml version="1.0"?>\n'];
  private readonly open: { name: string; hasContent: boolean }[] = [];
  // libxml2's doindent: a closing tag is indented only when an element, not text, came before it.
  private indentClose = false;

  start(name: string): void {
    checkName(name);
    const parent = this.open.at(-1);
    if (parent && !parent.hasContent) {
      this.out.push('>\n');
      parent.hasContent = true;
    }
    this.out.push(' '.repeat(this.open.length), '<', name);
    this.open.push({ name, hasContent: false });
  }

  attribute(name: string, value: string): void {
    checkName(name);
    const current = this.open.at(-1);
    // Once the start tag is closed XMLWriter::writeAttribute fails (returns false) and upstream
    // ignores that, so the attribute is dropped.
    if (!current || current.hasContent) return;
    this.out.push(' ', name, '="', escapeAttribute(value), '"');
  }

  text(s: string): void {
    const current = this.open.at(-1)!;
    if (!current.hasContent) {
      this.out.push('>');
      current.hasContent = true;
    }
    this.indentClose = false;
    this.out.push(escapeText(s));
  }

  end(): void {
    const current = this.open.at(-1)!;
    if (!current.hasContent) {
      this.out.push('/>');
    } else {
      if (this.indentClose) this.out.push(' '.repeat(this.open.length - 1));
      this.out.push('</', current.name, '>');
    }
    this.indentClose = true;
    this.out.push('\n');
    this.open.pop();
  }

  toString(): string {
    return this.out.join('');
  }
}
