/**
 * RIFF/WAVE for 16-bit PCM mono: what the synthesizer produces and what every player reads.
 * Only the canonical 44-byte layout (RIFF, fmt, data) is written; the reader also skips
 * chunks it does not know (LIST, fact) so it can check files written elsewhere.
 */

import { endianness } from 'node:os';

const HEADER_BYTES = 44;
const PCM_FORMAT = 1;
const BITS_PER_SAMPLE = 16;

/** Encodes mono samples as a 16-bit PCM WAV file; float samples are in -1..1 and clipped. */
export function encodeWav(samples: Int16Array | Float32Array, sampleRate: number): Buffer {
  if (!Number.isInteger(sampleRate) || sampleRate <= 0) throw new RangeError(`Invalid sample rate ${sampleRate}`);
  const dataBytes = samples.length * 2;
  // RIFF sizes are 32-bit; past 4 GiB the header would silently wrap.
  if (HEADER_BYTES - 8 + dataBytes > 0xffff_ffff) throw new RangeError('Audio too long for a WAV file');
  const out = Buffer.allocUnsafe(HEADER_BYTES + dataBytes);
  out.write('RIFF', 0, 'ascii');
  out.writeUInt32LE(HEADER_BYTES - 8 + dataBytes, 4);
  out.write('WAVE', 8, 'ascii');
  out.write('fmt ', 12, 'ascii');
  out.writeUInt32LE(16, 16);
  out.writeUInt16LE(PCM_FORMAT, 20);
  out.writeUInt16LE(1, 22);
  out.writeUInt32LE(sampleRate, 24);
  out.writeUInt32LE(sampleRate * 2, 28);
  out.writeUInt16LE(2, 32);
  out.writeUInt16LE(BITS_PER_SAMPLE, 34);
  out.write('data', 36, 'ascii');
  out.writeUInt32LE(dataBytes, 40);
  if (samples instanceof Int16Array) {
    // WAV is little-endian, so on little-endian hosts (all but s390x) this is one copy.
    if (endianness() === 'LE') Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength).copy(out, HEADER_BYTES);
    else for (let i = 0; i < samples.length; i++) out.writeInt16LE(samples[i] ?? 0, HEADER_BYTES + i * 2);
  } else {
    for (let i = 0; i < samples.length; i++) {
      const s = Math.max(-1, Math.min(1, samples[i] ?? 0));
      out.writeInt16LE(Math.round(s < 0 ? s * 0x8000 : s * 0x7fff), HEADER_BYTES + i * 2);
    }
  }
  return out;
}

/** What the `fmt ` and `data` chunks of a WAV file say, and where its samples are. */
export interface WavHeader {
  /** 1 for integer PCM. */
  format: number;
  channels: number;
  sampleRate: number;
  byteRate: number;
  blockAlign: number;
  bitsPerSample: number;
  /** The RIFF chunk size field: the file length minus 8 in a well-formed file. */
  riffSize: number;
  dataOffset: number;
  dataBytes: number;
}

/** Reads the header of a WAV file; throws when it is not RIFF/WAVE or lacks a fmt or data chunk. */
export function parseWavHeader(buf: Buffer): WavHeader {
  if (buf.length < 12 || buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') {
    throw new Error('Not a RIFF/WAVE file');
  }
  const riffSize = buf.readUInt32LE(4);
  let fmt: Omit<WavHeader, 'riffSize' | 'dataOffset' | 'dataBytes'> | undefined;
  let offset = 12;
  while (offset + 8 <= buf.length) {
    const id = buf.toString('ascii', offset, offset + 4);
    const size = buf.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + 16 > buf.length) throw new Error('Truncated fmt chunk');
      fmt = {
        format: buf.readUInt16LE(body),
        channels: buf.readUInt16LE(body + 2),
        sampleRate: buf.readUInt32LE(body + 4),
        byteRate: buf.readUInt32LE(body + 8),
        blockAlign: buf.readUInt16LE(body + 12),
        bitsPerSample: buf.readUInt16LE(body + 14),
      };
    } else if (id === 'data') {
      if (!fmt) throw new Error('data chunk before fmt chunk');
      return { ...fmt, riffSize, dataOffset: body, dataBytes: size };
    }
    // Chunks are padded to an even length.
    offset = body + size + (size % 2);
  }
  throw new Error(fmt ? 'No data chunk' : 'No fmt chunk');
}
