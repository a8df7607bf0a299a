/**
 * IPv6 addresses as 16 bytes: parsing and RFC 5952 text (lowercase, longest run of zero groups as `::`).
 *
 * @module
 */

/**
 * Formats 16 bytes in canonical RFC 5952 form.
 *
 * @example
 * ```ts
 * formatIPv6(new Uint8Array([0xfd, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x03, 0, 0, 0, 0, 0, 0, 0, 1])); // "fdae:41e4:649b:9303::1"
 * ```
 */
export function formatIPv6(bytes: Uint8Array): string {
  if (bytes.length !== 16) throw new RangeError(`an IPv6 address has 16 bytes, got ${bytes.length}`);
  // The longest run of two or more zero groups becomes "::"; the first wins a tie.
  let bestStart = -1, bestLength = 1;
  for (let i = 0; i < 8;) {
    if (bytes[2 * i] !== 0 || bytes[2 * i + 1] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && bytes[2 * j] === 0 && bytes[2 * j + 1] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  // Built by concatenation: this runs for every allowed IP of every device read (10,000 at fleet size).
  let text = "";
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      text += "::";
      i += bestLength - 1;
      continue;
    }
    if (text !== "" && !text.endsWith(":")) text += ":";
    text += ((bytes[2 * i] << 8) | bytes[2 * i + 1]).toString(16);
  }
  return text;
}

/**
 * Parses IPv6 text (with `::`, without a zone or an embedded IPv4 part) into 16 bytes, or returns `undefined`.
 *
 * @example
 * ```ts
 * parseIPv6("fdae:41e4:649b:9303::1")?.[15]; // 1
 * ```
 */
export function parseIPv6(text: string): Uint8Array | undefined {
  // One pass over the characters: groups are written in order, and those after "::" are moved to the end.
  const bytes = new Uint8Array(16);
  const length = text.length;
  let groups = 0;
  let gap = -1;
  let i = 0;
  if (text.startsWith("::")) {
    gap = 0;
    i = 2;
  }
  while (i < length) {
    let value = 0, digits = 0;
    for (; i < length; i++, digits++) {
      const digit = hexDigit(text.charCodeAt(i));
      if (digit < 0) break;
      value = value * 16 + digit;
    }
    if (digits === 0 || digits > 4 || groups === 8) return undefined;
    bytes[2 * groups] = value >> 8;
    bytes[2 * groups + 1] = value & 0xff;
    groups++;
    if (i === length) break;
    if (text.charCodeAt(i++) !== COLON || i === length) return undefined;
    if (text.charCodeAt(i) === COLON) {
      if (gap >= 0) return undefined;
      gap = groups;
      i++;
    }
  }
  if (gap < 0) return groups === 8 ? bytes : undefined;
  // "::" stands for one zero group at least.
  if (groups > 7) return undefined;
  const tail = groups - gap;
  bytes.copyWithin(16 - 2 * tail, 2 * gap, 2 * groups);
  bytes.fill(0, 2 * gap, 16 - 2 * tail);
  return bytes;
}

const COLON = 0x3a;

/** The value of a hex digit's character code, or -1. */
function hexDigit(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}
