/**
 * xorChecksum: the XOR of all octets, the one-byte check some serial sensors append
 * to a frame (NMEA sentences, many Modbus-like vendor protocols). A frame whose last
 * byte is its checksum XORs to 0 as a whole.
 *
 * Limitations: detects any single-bit error but no reordering of bytes and no even
 * number of flips in the same bit position; use CRC where the device allows it.
 */

/** XOR of every octet of `data`, in [0, 255]; numbers are reduced to their low 8 bits. */
export function xorChecksum(data: Uint8Array | readonly number[]): number {
  let checksum = 0;
  for (const octet of data) checksum ^= octet & 0xff;
  return checksum;
}
