/**
 * Test helper: golden bytes written as commented hex.
 *
 * @module
 */

/** Turns hex text with whitespace and `//` comments into bytes. */
export function hex(text: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.fromHex(text.replace(/\/\/[^\n]*/g, "").replace(/\s+/g, ""));
}
