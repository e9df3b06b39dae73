import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { renderOcsXml } from '../../src/api/ocs-xml.js';
import { PhpFloat } from '../../src/api/php-json.js';
import { at, child, parseXml } from '../helpers/xml.js';

const META = { status: 'ok', statuscode: 200, message: 'OK', totalitems: '', itemsperpage: '' };
const META_XML =
  ' <meta>\n  <status>ok</status>\n  <statuscode>200</statuscode>\n  <message>OK</message>\n' +
  '  <totalitems></totalitems>\n  <itemsperpage></itemsperpage>\n </meta>\n';

function doc(dataXml: string): string {
  return `<?xml version="1.0"?>\n<ocs>\n${META_XML}${dataXml}</ocs>\n`;
}

describe('renderOcsXml (XMLWriter with setIndent)', () => {
  it('reproduces the API.md §3.2 layout', () => {
    const xml = renderOcsXml(META, { task: { id: 42, type: 'core:text2text' } });
    assert.equal(
      xml,
      '<?xml version="1.0"?>\n' +
        '<ocs>\n' +
        ' <meta>\n' +
        '  <status>ok</status>\n' +
        '  <statuscode>200</statuscode>\n' +
        '  <message>OK</message>\n' +
        '  <totalitems></totalitems>\n' +
        '  <itemsperpage></itemsperpage>\n' +
        ' </meta>\n' +
        ' <data>\n' +
        '  <task>\n' +
        '   <id>42</id>\n' +
        '   <type>core:text2text</type>\n' +
        '  </task>\n' +
        ' </data>\n' +
        '</ocs>\n',
    );
  });

  it('writes empty data as a self-closing element', () => {
    assert.equal(renderOcsXml(META, []), doc(' <data/>\n'));
    assert.equal(renderOcsXml(META, {}), doc(' <data/>\n'));
    assert.equal(renderOcsXml(META, null), doc(' <data/>\n'));
  });

  it('writes scalar data on one line', () => {
    assert.equal(renderOcsXml(META, 'hi'), doc(' <data>hi</data>\n'));
  });

  it('names list items and numeric keys "element"', () => {
    assert.equal(
      renderOcsXml(META, { ids: [1, 2], map: { '7': 'x', ' 1.5e3 ': 'y' } }),
      doc(
        ' <data>\n  <ids>\n   <element>1</element>\n   <element>2</element>\n  </ids>\n' +
          '  <map>\n   <element>x</element>\n   <element>y</element>\n  </map>\n </data>\n',
      ),
    );
  });

  it('casts scalars as PHP does: true "1", false and "" empty, null self-closing', () => {
    assert.equal(
      renderOcsXml(META, { t: true, f: false, e: '', n: null, l: [], o: {} }),
      doc(' <data>\n  <t>1</t>\n  <f></f>\n  <e></e>\n  <n/>\n  <l/>\n  <o/>\n </data>\n'),
    );
  });

  it('prints floats as PHP string-casts them', () => {
    assert.equal(
      renderOcsXml(META, { a: new PhpFloat(1), b: 0.5, c: 1e25, d: 0.1 + 0.2 }),
      doc(' <data>\n  <a>1</a>\n  <b>0.5</b>\n  <c>1.0E+25</c>\n  <d>0.3</d>\n </data>\n'),
    );
  });

  it('escapes text as libxml2 does', () => {
    assert.equal(renderOcsXml(META, { m: 'a<b>&"c"\r\n\té😀' }), doc(' <data>\n  <m>a&lt;b&gt;&amp;&quot;c&quot;&#13;\n\té😀</m>\n </data>\n'));
  });

  it('turns @attributes and @name keys into attributes', () => {
    assert.equal(
      renderOcsXml(META, { item: { '@attributes': { id: 3, kind: 'a"<&>' }, '@lang': 'é\n', name: 'x' } }),
      doc(' <data>\n  <item id="3" kind="a&quot;&lt;&amp;&gt;" lang="&#xE9;&#10;">\n   <name>x</name>\n  </item>\n </data>\n'),
    );
  });

  it('drops an attribute that comes after content, as XMLWriter refuses it', () => {
    assert.equal(renderOcsXml(META, { item: { name: 'x', '@late': '1' } }), doc(' <data>\n  <item>\n   <name>x</name>\n  </item>\n </data>\n'));
  });

  it('writes an element holding only attributes as self-closing', () => {
    assert.equal(renderOcsXml(META, { item: { '@id': '1' } }), doc(' <data>\n  <item id="1"/>\n </data>\n'));
  });

  it('encodes a key that is not an XML name (as XMLWriter checks them) character by character, as XmlConvert.EncodeName does', () => {
    const keys = { 'two words': 1, '0abc': 2, '-x': 3, 'é😀 x': 4, $comment: 5, '\ud800y': 6, '\u{F0000}': 7, 'a:b': 8, '': 9 };
    assert.equal(
      renderOcsXml(META, keys),
      doc(
        ' <data>\n  <two_x0020_words>1</two_x0020_words>\n  <_x0030_abc>2</_x0030_abc>\n  <_x002D_x>3</_x002D_x>\n' +
          '  <é_x0001F600__x0020_x>4</é_x0001F600__x0020_x>\n  <_x0024_comment>5</_x0024_comment>\n  <_xD800_y>6</_xD800_y>\n' +
          '  <_x000F0000_>7</_x000F0000_>\n  <a:b>8</a:b>\n  <element>9</element>\n </data>\n',
      ),
    );
    // Names of XML 1.0's fifth edition only (U+2070 may start one there) are encoded too: XMLWriter
    // refuses them, and expat cannot read them.
    assert.equal(renderOcsXml(META, { 'a\u2070': 1, Ωé〇: 2 }), doc(' <data>\n  <a_x2070_>1</a_x2070_>\n  <Ωé〇>2</Ωé〇>\n </data>\n'));
    assert.equal(renderOcsXml(META, { 'my input': { '1 x': [] } }), doc(' <data>\n  <my_x0020_input>\n   <_x0031__x0020_x/>\n  </my_x0020_input>\n </data>\n'));
  });

  it('encodes attribute names the same way, and leaves out a repeated attribute and one holding a list', () => {
    assert.equal(
      renderOcsXml(META, { item: { '@attributes': { 'a b': 1, id: 2, list: [1] }, '@id': 3, '@': 'e', '@n': null } }),
      doc(' <data>\n  <item a_x0020_b="1" id="2" element="e" n=""/>\n </data>\n'),
    );
  });

  it('writes U+FFFD for characters XML 1.0 cannot carry, in text and in attributes', () => {
    const odd = 'a\u0000b\u0001\u000b\u001f\ufffe\uffff\ud800c\udc00😀\u0085';
    assert.equal(
      renderOcsXml(META, { t: odd, a: { '@v': odd } }),
      doc(
        ' <data>\n  <t>a\ufffdb\ufffd\ufffd\ufffd\ufffd\ufffd\ufffdc\ufffd😀\u0085</t>\n' +
          '  <a v="a&#xFFFD;b&#xFFFD;&#xFFFD;&#xFFFD;&#xFFFD;&#xFFFD;&#xFFFD;c&#xFFFD;&#x1F600;&#x85;"/>\n </data>\n',
      ),
    );
  });

  it('writes functions, symbols and undefined as null, class instances by their own properties', () => {
    class Point {
      constructor(readonly x: number) {}
    }
    assert.equal(
      renderOcsXml(META, { f: () => 1, s: Symbol('s'), u: undefined, p: new Point(3), m: new Map([['k', 1]]), n: Number.NaN, b: 2n ** 70n }),
      doc(' <data>\n  <f/>\n  <s/>\n  <u/>\n  <p>\n   <x>3</x>\n  </p>\n  <m/>\n  <n>NAN</n>\n  <b>1180591620717411303424</b>\n </data>\n'),
    );
  });

  it('writes a value found inside itself, and nesting past 512 levels, as an empty element', () => {
    const cycle: Record<string, unknown> = { name: 'c' };
    cycle.self = cycle;
    cycle.again = [cycle];
    assert.equal(renderOcsXml(META, cycle), doc(' <data>\n  <name>c</name>\n  <self/>\n  <again>\n   <element/>\n  </again>\n </data>\n'));
    let deep: unknown = 'bottom';
    for (let i = 0; i < 600; i++) deep = [deep];
    const root = parseXml(renderOcsXml(META, deep));
    let levels = 0;
    for (let el = child(root, 'data'); el.children.length > 0; el = el.children[0]!) levels++;
    // 512 containers are written with their contents (data and 511 lists); the 513th is empty.
    assert.equal(levels, 512);
  });

  it('writes well-formed XML for any keys and values (property)', () => {
    const specials = fc.constantFrom(
      ...['\0', '\u0001', '\ud800', '\udbff', '\udc00', '\ufffe', '\uffff', ' ', '<', '>', '&', '"', '\r', ']]>'],
      ...['@', '@attributes', ':', '0', '-', '.', '_x0020_'],
    );
    const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((u) => String.fromCharCode(u));
    const unit = fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), specials, loneSurrogate);
    const text = fc.string({ unit, maxLength: 8 });
    const { value } = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        text,
        fc.double(),
        fc.integer(),
        fc.boolean(),
        fc.constant(null),
        fc.bigInt(),
        fc.array(tie('value'), { maxLength: 4 }),
        fc.dictionary(text, tie('value'), { maxKeys: 5 }),
      ),
    }));
    fc.assert(
      fc.property(value, (data) => {
        const xml = renderOcsXml(META, data);
        assert.equal(at(parseXml(xml), 'meta', 'status').text, 'ok');
      }),
      { seed: 18_3, numRuns: 400 },
    );
  });
});
