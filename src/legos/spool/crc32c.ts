/**
 * CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78): the checksum that
 * frames every spool record. Node's `zlib.crc32` is CRC-32/IEEE, a different
 * polynomial, so this module computes CRC-32C itself, table-driven and slice-by-8
 * (eight bytes per step through eight 256-entry tables).
 *
 * Check value: `crc32c(Buffer.from('123456789')) === 0xe3069283`.
 *
 * Limitations: pure JavaScript, no SSE4.2 `crc32` instruction; expect several hundred
 * MB/s on one core (see `bench/spool.ts`), which is well above the spool's write rate.
 */

const POLY_REFLECTED = 0x82f63b78;

/** Eight 256-entry tables laid end to end: table k at [k*256, k*256+256). */
const TABLES: Uint32Array = buildTables();

function buildTables(): Uint32Array {
  const tables = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY_REFLECTED : c >>> 1;
    tables[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = tables[n] as number;
    for (let k = 1; k < 8; k++) {
      c = (tables[c & 0xff] as number) ^ (c >>> 8);
      tables[k * 256 + n] = c >>> 0;
    }
  }
  return tables;
}

/**
 * CRC-32C of `data[start, end)`, continuing from `previous` (the CRC of the bytes before,
 * default 0 for a fresh checksum), so `crc32c(b, crc32c(a))` equals `crc32c(a ++ b)`.
 * Returns an unsigned 32-bit integer.
 */
export function crc32c(data: Uint8Array, previous = 0, start = 0, end: number = data.length): number {
  const t = TABLES;
  let crc = ~previous;
  let i = start;
  const stop8 = end - ((end - start) & 7);
  while (i < stop8) {
    crc ^= (data[i] as number) | ((data[i + 1] as number) << 8) | ((data[i + 2] as number) << 16) | ((data[i + 3] as number) << 24);
    crc =
      (t[1792 + (crc & 0xff)] as number) ^
      (t[1536 + ((crc >>> 8) & 0xff)] as number) ^
      (t[1280 + ((crc >>> 16) & 0xff)] as number) ^
      (t[1024 + (crc >>> 24)] as number) ^
      (t[768 + (data[i + 4] as number)] as number) ^
      (t[512 + (data[i + 5] as number)] as number) ^
      (t[256 + (data[i + 6] as number)] as number) ^
      (t[data[i + 7] as number] as number);
    i += 8;
  }
  while (i < end) crc = (t[(crc ^ (data[i++] as number)) & 0xff] as number) ^ (crc >>> 8);
  return ~crc >>> 0;
}
