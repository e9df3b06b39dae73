import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DomainError } from '../../src/core/errors.js';
import { normalizePath, parentOf, validateName } from '../../src/files/paths.js';

function refused(raw: string, message: string | RegExp) {
  assert.throws(
    () => normalizePath(raw),
    (error: unknown) => {
      assert.ok(error instanceof DomainError);
      assert.equal(error.code, 'bad_request');
      if (typeof message === 'string') assert.equal(error.message, message);
      else assert.match(error.message, message);
      return true;
    },
    JSON.stringify(raw),
  );
}

describe('normalizePath', () => {
  it('drops leading, trailing and doubled slashes; the root is the empty string', () => {
    assert.equal(normalizePath('/a//b/c.txt/'), 'a/b/c.txt');
    assert.equal(normalizePath('a'), 'a');
    assert.equal(normalizePath(''), '');
    assert.equal(normalizePath('///'), '');
    assert.equal(normalizePath(' spaced name /Grüße 🌍.txt'), ' spaced name /Grüße 🌍.txt');
    assert.equal(normalizePath('...'), '...');
    assert.equal(normalizePath('.hidden/a..b'), '.hidden/a..b');
  });

  it('refuses . and .. segments anywhere', () => {
    refused('..', '".." is not allowed in a path');
    refused('a/../b', '".." is not allowed in a path');
    refused('/a/b/..', '".." is not allowed in a path');
    refused('./a', '"." is not allowed in a path');
  });

  it('decodes nothing: percent-encoded traversal is an ordinary name, and refused once the caller decodes it', () => {
    assert.equal(normalizePath('%2e%2e/x'), '%2e%2e/x');
    assert.equal(normalizePath('a%2Fb'), 'a%2Fb');
    refused(decodeURIComponent('%2e%2e/x'), '".." is not allowed in a path');
    assert.equal(normalizePath(decodeURIComponent('a%2Fb')), 'a/b');
  });

  it('refuses NUL, control characters and backslashes', () => {
    refused('a\0b', 'A file name must not contain a NUL character');
    refused('a/b\u0001', 'A file name must not contain control characters');
    refused('line\nbreak', 'A file name must not contain control characters');
    refused('del\u007f', 'A file name must not contain control characters');
    refused('..\\..\\etc', 'A file name must not contain a backslash');
  });

  it('refuses names over 250 bytes, paths over 2000 bytes and more than 100 levels', () => {
    assert.equal(normalizePath('a'.repeat(250)), 'a'.repeat(250));
    refused('a'.repeat(251), 'A file name must not be longer than 250 bytes');
    // 126 × 2 bytes: short in characters, long in bytes.
    refused('é'.repeat(126), 'A file name must not be longer than 250 bytes');
    const deep = Array.from({ length: 100 }, () => 'd').join('/');
    assert.equal(normalizePath(deep), deep);
    refused(`${deep}/d`, 'The path is more than 100 folders deep');
    const long = Array.from({ length: 9 }, () => 'n'.repeat(240)).join('/');
    assert.equal(normalizePath(long.slice(0, 2000)), long.slice(0, 2000));
    refused(long, 'The path is longer than 2000 bytes');
  });
});

describe('validateName', () => {
  it('refuses an empty name and a slash, which normalizePath never passes on', () => {
    assert.throws(() => validateName(''), { code: 'bad_request', message: '"" is not a valid file name' });
    assert.throws(() => validateName('a/b'), { code: 'bad_request', message: '"a/b" is not a valid file name' });
    validateName('ok.png');
  });
});

describe('parentOf', () => {
  it('gives the folder of a normalized path', () => {
    assert.equal(parentOf('a/b/c.txt'), 'a/b');
    assert.equal(parentOf('c.txt'), '');
  });
});
