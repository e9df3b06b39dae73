import { randomBytes, timingSafeEqual } from 'node:crypto';
import argon2 from 'argon2';
import { sha256Hex } from './sha256.js';

/** argon2id with the library's defaults (m=64 MiB, t=3, p=4): slow on purpose; the auth cache keeps it off the hot path. */
export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, { type: argon2.argon2id });
}

export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  try {
    return await argon2.verify(hash, password);
  } catch {
    return false;
  }
}

const TOKEN_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** A random string of the given length over [A-Za-z0-9], like Nextcloud's app passwords (72 chars). */
export function randomToken(length = 72): string {
  const out: string[] = [];
  while (out.length < length) {
    for (const b of randomBytes(length * 2)) {
      // 248 = 62 * 4: reject the tail so every character is equally likely.
      if (b < 248 && out.length < length) out.push(TOKEN_ALPHABET[b % 62] as string);
    }
  }
  return out.join('');
}

/** App passwords are long random strings, so a fast hash is enough to keep them unreadable at rest. */
export function tokenHash(token: string): string {
  return sha256Hex(token);
}

export function constantTimeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}
