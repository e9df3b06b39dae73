export const OCTET_STREAM = 'application/octet-stream';

/**
 * Extension → MIME type, as Nextcloud's mimetypemapping.dist.json has them where it lists them.
 * Only the types task providers and their users commonly exchange; anything else is
 * application/octet-stream. Where several extensions share a type, the first one listed is the
 * one extensionFor() gives.
 */
const EXTENSIONS: Readonly<Record<string, string>> = Object.freeze({
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  svg: 'image/svg+xml',
  bmp: 'image/bmp',
  tiff: 'image/tiff',
  tif: 'image/tiff',
  mp3: 'audio/mpeg',
  wav: 'audio/wav',
  ogg: 'audio/ogg',
  oga: 'audio/ogg',
  opus: 'audio/ogg',
  flac: 'audio/flac',
  m4a: 'audio/mp4',
  aac: 'audio/aac',
  webm: 'video/webm',
  mp4: 'video/mp4',
  m4v: 'video/mp4',
  mov: 'video/quicktime',
  mkv: 'video/x-matroska',
  avi: 'video/x-msvideo',
  pdf: 'application/pdf',
  txt: 'text/plain',
  md: 'text/markdown',
  csv: 'text/csv',
  json: 'application/json',
  xml: 'application/xml',
  html: 'text/html',
  zip: 'application/zip',
  odt: 'application/vnd.oasis.opendocument.text',
  ods: 'application/vnd.oasis.opendocument.spreadsheet',
  odp: 'application/vnd.oasis.opendocument.presentation',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  pptx: 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
  srt: 'application/x-subrip',
  vtt: 'text/vtt',
});

/** A Map, not the object: a name ending in ".constructor" must not find Object.prototype's. */
const BY_EXTENSION: ReadonlyMap<string, string> = new Map(Object.entries(EXTENSIONS));

const EXTENSION_OF: ReadonlyMap<string, string> = new Map(
  Object.entries(EXTENSIONS)
    .reverse()
    .map(([ext, mime]) => [mime, ext]),
);

/** The MIME type for a file name, by its extension (any case); application/octet-stream when unknown. */
export function guessMime(name: string): string {
  const dot = name.lastIndexOf('.');
  if (dot < 0) return OCTET_STREAM;
  return BY_EXTENSION.get(name.slice(dot + 1).toLowerCase()) ?? OCTET_STREAM;
}

/** The usual extension (without dot) for a MIME type, or undefined when there is none in the table. */
export function extensionFor(mime: string): string | undefined {
  return EXTENSION_OF.get(mime.toLowerCase());
}

/** How many leading bytes sniffMime needs. */
export const SNIFF_BYTES = 16;

const ascii = (bytes: Uint8Array, at: number, text: string): boolean =>
  bytes.length >= at + text.length && [...text].every((c, i) => bytes[at + i] === c.charCodeAt(0));

/**
 * The MIME type the first bytes of a file announce, for the formats providers produce (images,
 * audio, video, PDF); undefined when none matches. Text formats have no signature and are not guessed.
 */
export function sniffMime(head: Uint8Array): string | undefined {
  const [b0, b1, b2] = head;
  if (ascii(head, 0, '\x89PNG\r\n\x1a\n')) return 'image/png';
  if (b0 === 0xff && b1 === 0xd8 && b2 === 0xff) return 'image/jpeg';
  if (ascii(head, 0, 'GIF87a') || ascii(head, 0, 'GIF89a')) return 'image/gif';
  if (ascii(head, 0, 'RIFF') && ascii(head, 8, 'WEBP')) return 'image/webp';
  if (ascii(head, 0, 'RIFF') && ascii(head, 8, 'WAVE')) return 'audio/wav';
  if (ascii(head, 0, 'OggS')) return 'audio/ogg';
  if (ascii(head, 0, 'fLaC')) return 'audio/flac';
  if (ascii(head, 0, 'ID3')) return 'audio/mpeg';
  // An MPEG audio frame: 11 sync bits, then a layer that is not 00 (00 is AAC's ADTS header).
  if (b0 === 0xff && b1 !== undefined && (b1 & 0xe0) === 0xe0 && (b1 & 0x06) !== 0) return 'audio/mpeg';
  if (ascii(head, 0, '%PDF-')) return 'application/pdf';
  if (ascii(head, 4, 'ftyp')) {
    if (ascii(head, 8, 'M4A ')) return 'audio/mp4';
    if (ascii(head, 8, 'qt  ')) return 'video/quicktime';
    return 'video/mp4';
  }
  return undefined;
}
