/**
 * File types told by their first bytes. Back ends are trusted for neither names nor headers: an
 * "image" that is an error page must fail the task, not become an output file.
 */

/** image/png, image/jpeg, image/webp or image/gif; null for anything else. */
export function imageMime(bytes: Uint8Array): string | null {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length >= 8 && b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b.length >= 12 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP') return 'image/webp';
  if (b.length >= 6 && /^GIF8[79]a$/.test(b.toString('latin1', 0, 6))) return 'image/gif';
  return null;
}

const AUDIO_EXTENSIONS: Record<string, string> = {
  'audio/mpeg': 'mp3',
  'audio/wav': 'wav',
  'audio/ogg': 'ogg',
  'audio/flac': 'flac',
  'audio/aac': 'aac',
  'audio/mp4': 'm4a',
  'audio/webm': 'webm',
};

export const IMAGE_EXTENSIONS: Record<string, string> = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp', 'image/gif': 'gif' };

/** The audio formats text-to-speech servers produce (OpenAI's mp3/opus/aac/flac/wav/pcm); null otherwise. */
export function audioMime(bytes: Uint8Array): string | null {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 4) return null;
  const ascii = b.toString('latin1', 0, 4);
  if (ascii.startsWith('ID3')) return 'audio/mpeg';
  if (ascii === 'RIFF' && b.length >= 12 && b.toString('latin1', 8, 12) === 'WAVE') return 'audio/wav';
  if (ascii === 'OggS') return 'audio/ogg';
  if (ascii === 'fLaC') return 'audio/flac';
  if (b.length >= 8 && b.toString('latin1', 4, 8) === 'ftyp') return 'audio/mp4';
  if (b[0] === 0x1a && b[1] === 0x45 && b[2] === 0xdf && b[3] === 0xa3) return 'audio/webm';
  // Frame sync: 11 set bits. Layer bits 00 mean AAC in ADTS, anything else an MPEG audio frame.
  if (b[0] === 0xff && ((b[1] ?? 0) & 0xe0) === 0xe0) return ((b[1] ?? 0) & 0x06) === 0 ? 'audio/aac' : 'audio/mpeg';
  return null;
}

export function audioExtension(mime: string): string {
  return AUDIO_EXTENSIONS[mime] ?? 'bin';
}

/** True for a body that is an HTML page: what proxies and misrouted URLs answer. */
export function looksLikeHtml(text: string): boolean {
  return /^\s*(<!doctype html|<html|<head|<body)/i.test(text);
}
