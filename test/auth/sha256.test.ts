import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { secretHash } from '../../src/auth/appapi.js';
import { anonKeyOf } from '../../src/auth/authenticator.js';
import { tokenHash } from '../../src/auth/passwords.js';
import { sha256Hex } from '../../src/auth/sha256.js';

describe('sha256Hex', () => {
  it('is SHA-256 of the UTF-8 text in lowercase hex (the published test vectors)', () => {
    assert.equal(sha256Hex('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    assert.equal(sha256Hex(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    // 'é' is hashed as its two UTF-8 bytes, c3 a9.
    assert.equal(sha256Hex('é'), '4a99557e4033c3539de2eb65472017cad5f9557f7a0625a09f1c3f6e2ba69c4c');
  });

  it('keeps stored hashes valid: app passwords, ExApp secrets and anonymous sessions hash as before', () => {
    assert.equal(tokenHash('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    assert.equal(secretHash('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    assert.equal(anonKeyOf('c'), sha256Hex('anon:c'));
  });
});
