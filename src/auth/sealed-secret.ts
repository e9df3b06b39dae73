import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config.js';

/**
 * ExApp secrets the server must present itself (AppAPI webhooks and triggers, EXAPP.md §2) cannot
 * be kept as hashes only. They are sealed with AES-256-GCM under a server key, so a copied database
 * alone does not reveal them. Format: `v1.` + base64url(iv ‖ ciphertext ‖ tag).
 */

const VERSION = 'v1.';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

/** Where the key comes from when TASKPROC_SECRET_KEY is not set. */
export const KEY_ENV = 'TASKPROC_SECRET_KEY';
export const KEY_FILE = 'secret.key';

export class SealedSecretError extends Error {
  override name = 'SealedSecretError';
}

export function sealSecret(secret: string, key: Buffer): string {
  checkKey(key);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  return VERSION + Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
}

/** Throws SealedSecretError when the value is malformed, was sealed under another key, or was altered. */
export function openSealedSecret(sealed: string, key: Buffer): string {
  checkKey(key);
  if (!sealed.startsWith(VERSION)) throw new SealedSecretError('not a sealed secret (unknown format)');
  const raw = Buffer.from(sealed.slice(VERSION.length), 'base64url');
  if (raw.length < IV_BYTES + TAG_BYTES) throw new SealedSecretError('not a sealed secret (too short)');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
  decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    throw new SealedSecretError('the sealed secret does not open with this server key (another key, or altered)');
  }
}

/**
 * The server key: TASKPROC_SECRET_KEY (64 hex digits, or base64 of 32 bytes) when set, else the
 * file `<dataDir>/secret.key`, created (mode 0600) on first use. Server and CLI call this with the
 * same config, so what the CLI seals the server can open.
 */
export async function loadServerKey(config: Pick<Config, 'dataDir'>, env: Record<string, string | undefined>): Promise<Buffer> {
  const fromEnv = env[KEY_ENV];
  if (fromEnv !== undefined && fromEnv !== '') {
    const key = decodeKey(fromEnv.trim());
    if (key === undefined) throw new SealedSecretError(`${KEY_ENV} must be 32 bytes as 64 hex digits or as base64`);
    return key;
  }
  const file = join(config.dataDir, KEY_FILE);
  await mkdir(config.dataDir, { recursive: true });
  try {
    // `wx` fails when the file exists, so two processes starting together cannot both create one.
    await writeFile(file, `${randomBytes(KEY_BYTES).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const key = decodeKey((await readFile(file, 'utf8')).trim());
  if (key === undefined) throw new SealedSecretError(`${file} does not hold a 32-byte key (64 hex digits or base64)`);
  return key;
}

function decodeKey(text: string): Buffer | undefined {
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  // Node's base64 decoder takes the URL-safe alphabet too.
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) return Buffer.from(text, 'base64');
  return undefined;
}

function checkKey(key: Buffer): void {
  if (key.length !== KEY_BYTES) throw new SealedSecretError(`the server key must be ${KEY_BYTES} bytes, got ${key.length}`);
}
