import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { extensionFor, guessMime, sniffMime } from '../../src/files/mime.js';

const bytes = (...parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

describe('guessMime', () => {
  it('maps known extensions in any case', () => {
    assert.equal(guessMime('photo.PNG'), 'image/png');
    assert.equal(guessMime('a.b.jpeg'), 'image/jpeg');
    assert.equal(guessMime('talk.opus'), 'audio/ogg');
    assert.equal(guessMime('clip.mkv'), 'video/x-matroska');
    assert.equal(guessMime('report.docx'), 'application/vnd.openxmlformats-officedocument.wordprocessingml.document');
    assert.equal(guessMime('subs.vtt'), 'text/vtt');
    assert.equal(guessMime('notes.md'), 'text/markdown');
  });

  it('falls back to application/octet-stream', () => {
    assert.equal(guessMime('README'), 'application/octet-stream');
    assert.equal(guessMime('archive.tar.gz'), 'application/octet-stream');
    assert.equal(guessMime('trailing.'), 'application/octet-stream');
    assert.equal(guessMime('constructor'), 'application/octet-stream');
    assert.equal(guessMime('x.constructor'), 'application/octet-stream');
  });
});

describe('extensionFor', () => {
  it('gives the first extension listed for a type', () => {
    assert.equal(extensionFor('image/jpeg'), 'jpg');
    assert.equal(extensionFor('audio/ogg'), 'ogg');
    assert.equal(extensionFor('video/mp4'), 'mp4');
    assert.equal(extensionFor('IMAGE/PNG'), 'png');
    assert.equal(extensionFor('application/x-unknown'), undefined);
  });
});

describe('sniffMime', () => {
  it('recognizes the formats providers produce by their first bytes', () => {
    const cases: [Buffer, string][] = [
      [bytes([0x89], 'PNG\r\n\x1a\n', [0, 0, 0, 13]), 'image/png'],
      [bytes([0xff, 0xd8, 0xff, 0xe0]), 'image/jpeg'],
      [bytes('GIF89a'), 'image/gif'],
      [bytes('GIF87a'), 'image/gif'],
      [bytes('RIFF', [1, 2, 3, 4], 'WEBPVP8 '), 'image/webp'],
      [bytes('RIFF', [1, 2, 3, 4], 'WAVEfmt '), 'audio/wav'],
      [bytes('OggS', [0, 2]), 'audio/ogg'],
      [bytes('ID3', [4, 0]), 'audio/mpeg'],
      [bytes([0xff, 0xfb, 0x90, 0x64]), 'audio/mpeg'],
      [bytes('fLaC', [0, 0, 0, 34]), 'audio/flac'],
      [bytes('%PDF-1.7\n'), 'application/pdf'],
      [bytes([0, 0, 0, 0x20], 'ftypisom'), 'video/mp4'],
      [bytes([0, 0, 0, 0x20], 'ftypM4A '), 'audio/mp4'],
      [bytes([0, 0, 0, 0x14], 'ftypqt  '), 'video/quicktime'],
    ];
    for (const [head, mime] of cases) assert.equal(sniffMime(head), mime, mime);
  });

  it('guesses nothing for text, AAC headers, short or empty input', () => {
    assert.equal(sniffMime(bytes('Hello, world')), undefined);
    assert.equal(sniffMime(bytes([0xff, 0xf1, 0x50, 0x80])), undefined);
    assert.equal(sniffMime(bytes('RIFF')), undefined);
    assert.equal(sniffMime(bytes([0x89], 'PN')), undefined);
    assert.equal(sniffMime(Buffer.alloc(0)), undefined);
  });
});
