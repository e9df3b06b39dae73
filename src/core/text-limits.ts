/** Cuts a string to at most `maxBytes` of UTF-8 without splitting a character (upstream keeps 4000 bytes of errors). */
export function truncateUtf8(s: string, maxBytes: number): string {
  const buf = Buffer.from(s, 'utf8');
  if (buf.length <= maxBytes) return s;
  let end = maxBytes;
  // Step back over continuation bytes (10xxxxxx) so the cut lands on a character boundary.
  while (end > 0 && ((buf[end] as number) & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString('utf8');
}

export const ERROR_MESSAGE_MAX_BYTES = 4000;
