import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderOcsXml } from '../../src/api/ocs-xml.js';
import { PhpFloat } from '../../src/api/php-json.js';

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
    assert.equal(
      renderOcsXml(META, { m: 'a<b>&"c"\r\n\té😀' }),
      doc(' <data>\n  <m>a&lt;b&gt;&amp;&quot;c&quot;&#13;\n\té😀</m>\n </data>\n'),
    );
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

  it('fails on keys that are not XML names, as XMLWriter does', () => {
    assert.throws(() => renderOcsXml(META, { 'two words': 1 }), TypeError);
    assert.throws(() => renderOcsXml(META, { '': 1 }), TypeError);
    assert.throws(() => renderOcsXml(META, { '1abc': 1 }), TypeError);
  });
});
