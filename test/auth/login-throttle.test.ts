import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { throttledAddress } from '../../src/auth/login-throttle.js';

describe('throttledAddress', () => {
  it('keeps an IPv4 address as it is, also when a dual-stack socket writes it IPv4-mapped', () => {
    assert.equal(throttledAddress('203.0.113.7'), '203.0.113.7');
    assert.equal(throttledAddress('::ffff:203.0.113.7'), '203.0.113.7');
    assert.equal(throttledAddress('::FFFF:cb00:7107'), '203.0.113.7');
    assert.equal(throttledAddress('0:0:0:0:0:ffff:203.0.113.7'), '203.0.113.7');
  });

  it('counts an IPv6 address by its /64, however it is written', () => {
    const forms = ['2001:db8:0:1::1', '2001:0db8:0000:0001:0000:0000:0000:ffff', '2001:DB8:0:1:a:b:c:d', '2001:db8::1:0:0:0:0', '2001:db8:0:1::1%eth0'];
    for (const form of forms) assert.equal(throttledAddress(form), '2001:db8:0:1::/64', form);
    assert.equal(throttledAddress('2001:db8:0:2::1'), '2001:db8:0:2::/64');
    assert.equal(throttledAddress('::1'), '0:0:0:0::/64');
    assert.equal(throttledAddress('64:ff9b::203.0.113.7'), '64:ff9b:0:0::/64');
  });

  it('leaves what is not an IP address alone', () => {
    assert.equal(throttledAddress(''), '');
    assert.equal(throttledAddress('unix-socket'), 'unix-socket');
  });
});
