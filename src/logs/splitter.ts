/**
 * Splitting a TCP byte stream into lines on `\n`, with a cap on the length of one line.
 *
 * Bytes are decoded as UTF-8 as they arrive; invalid sequences become U+FFFD (so they cannot break anything
 * downstream), and a character split across two reads is joined again. Splitting the decoded text on `\n` is
 * the same as splitting the bytes, because no multi-byte UTF-8 sequence contains the byte 0x0A.
 *
 * A line longer than the cap (counted in UTF-8 bytes of the decoded text) is truncated: the first `maxBytes`
 * are kept, the rest up to the next `\n` is dropped, and memory stays bounded. Because a cut JSON object is no
 * longer JSON, the splitter tries to keep the record anyway: Talos records are flat and a line is only ever
 * that long because of one huge string value (`msg`). When the cut falls inside a string, and that same string
 * ends within the last {@link MAX_TAIL_CHARS} characters of the line, the kept prefix is joined to the line's
 * tail from that string's closing quote: the result is the same JSON object with the middle of that string
 * removed, and it is handed on with `truncated = true` (the receiver marks the record `"truncated": true`).
 * Any other overlong line (the cut outside a string, or a long tail) cannot be kept and is reported as dropped.
 *
 * @module
 */

/** The longest line kept whole, in bytes (16 KiB). */
export const MAX_LINE_BYTES = 16 * 1024;

/** How much of an overlong line's end is kept to find the keys after the cut string (characters). */
export const MAX_TAIL_CHARS = 4096;

/** Receives each line (without its `\n`); `truncated` when its middle was dropped. */
export type LineHandler = (line: string, truncated: boolean) => void;

const encoder = new TextEncoder();

/**
 * Where overlong text is encoded to count its bytes, shared by every splitter: the encoding is synchronous, and
 * one buffer per connection would cost each of thousands of idle connections the cap in memory.
 */
let sharedScratch = new Uint8Array(MAX_LINE_BYTES);

/**
 * A line splitter for one connection.
 *
 * @example
 * ```ts
 * const splitter = new LineSplitter((line) => console.log(line), () => console.log("dropped"));
 * splitter.push(new TextEncoder().encode('{"seq":1}\n{"se'));
 * splitter.push(new TextEncoder().encode('q":2}\n'));
 * splitter.end();
 * ```
 */
export class LineSplitter {
  readonly #onLine: LineHandler;
  readonly #onDropped: () => void;
  readonly #maxBytes: number;
  readonly #decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  #partial = "";
  #overlong: OverlongLine | undefined;

  /**
   * @param onLine receives every line that fits, and every overlong line that could be kept
   * @param onDropped called once for each overlong line that could not be kept
   * @param maxBytes the cap per line
   */
  constructor(onLine: LineHandler, onDropped: () => void, maxBytes: number = MAX_LINE_BYTES) {
    this.#onLine = onLine;
    this.#onDropped = onDropped;
    this.#maxBytes = maxBytes;
    if (sharedScratch.length < maxBytes) sharedScratch = new Uint8Array(maxBytes);
  }

  /** Takes the next bytes of the stream. */
  push(bytes: Uint8Array): void {
    this.#text(this.#decoder.decode(bytes, { stream: true }));
  }

  /** Ends the stream: a last line without `\n` is handed on too. */
  end(): void {
    this.#text(this.#decoder.decode());
    if (this.#overlong) this.#finishOverlong();
    else if (this.#partial !== "") this.#onLine(this.#partial, false);
    this.#partial = "";
  }

  #text(text: string): void {
    let start = 0;
    for (;;) {
      const newline = text.indexOf("\n", start);
      if (newline < 0) {
        if (start < text.length) this.#keep(start === 0 ? text : text.slice(start));
        return;
      }
      if (this.#overlong) {
        this.#overlong.feed(text, start, newline);
        this.#finishOverlong();
      } else {
        let line = text.slice(start, newline);
        if (this.#partial !== "") {
          line = this.#partial + line;
          this.#partial = "";
        }
        const kept = this.#keptLength(line);
        if (kept === line.length) this.#onLine(line, false);
        else {
          this.#overlong = new OverlongLine(line, kept);
          this.#finishOverlong();
        }
      }
      start = newline + 1;
    }
  }

  /** Holds the start of a line whose end has not arrived yet. */
  #keep(piece: string): void {
    if (this.#overlong) return this.#overlong.feed(piece, 0, piece.length);
    const partial = this.#partial + piece;
    const kept = this.#keptLength(partial);
    if (kept === partial.length) this.#partial = partial;
    else {
      this.#partial = "";
      this.#overlong = new OverlongLine(partial, kept);
    }
  }

  /** How many UTF-16 units of `text` fit in the cap (all of them when it fits). */
  #keptLength(text: string): number {
    // Each UTF-16 unit takes at most 3 UTF-8 bytes, so short text needs no counting.
    if (text.length * 3 <= this.#maxBytes) return text.length;
    return encoder.encodeInto(text, sharedScratch.subarray(0, this.#maxBytes)).read;
  }

  #finishOverlong(): void {
    const line = this.#overlong?.result();
    this.#overlong = undefined;
    if (line === undefined) this.#onDropped();
    else this.#onLine(line, true);
  }
}

/**
 * The state of one overlong line: its kept prefix, and a scan of JSON string boundaries (strings, escapes)
 * until the cut string closes, after which the rest is kept verbatim as the tail, up to {@link MAX_TAIL_CHARS}.
 */
class OverlongLine {
  /** The kept prefix, ending inside a string and not inside an escape; undefined when it cannot be kept. */
  #head: string | undefined;
  /** The ordinal of the string the cut falls in. */
  #cutString = -1;
  #strings = 0;
  #inString = false;
  /** 0 outside an escape; 1 right after a backslash; 2..5 inside the hex digits of `\uXXXX`. */
  #escape = 0;
  #escapeStart = 0;
  #tail: string[] | undefined;
  #tailLength = 0;

  constructor(start: string, kept: number) {
    this.#scan(start, 0, kept);
    if (this.#inString) {
      this.#cutString = this.#strings;
      this.#head = start.slice(0, this.#escape === 0 ? kept : this.#escapeStart);
      this.feed(start, kept, start.length);
    }
  }

  /** Takes `text[from, to)`, the next part of the line. */
  feed(text: string, from: number, to: number): void {
    if (this.#head === undefined) return;
    if (this.#tail) return this.#addTail(text, from, to);
    const closedAt = this.#scan(text, from, to);
    if (closedAt >= 0) {
      this.#tail = [];
      this.#addTail(text, closedAt, to);
    }
  }

  /** The kept line (prefix joined to the tail), or undefined when the line cannot be kept. */
  result(): string | undefined {
    if (this.#head === undefined || this.#tail === undefined) return undefined;
    return this.#head + this.#tail.join("");
  }

  #addTail(text: string, from: number, to: number): void {
    this.#tailLength += to - from;
    if (this.#tailLength > MAX_TAIL_CHARS) {
      this.#head = undefined;
      this.#tail = undefined;
    } else if (to > from) this.#tail!.push(text.slice(from, to));
  }

  /** Follows JSON string boundaries over `text[from, to)`; returns where the cut string closes, or -1. */
  #scan(text: string, from: number, to: number): number {
    for (let i = from; i < to; i++) {
      const c = text.charCodeAt(i);
      if (!this.#inString) {
        if (c === 0x22) {
          this.#inString = true;
          this.#strings++;
        }
      } else if (this.#escape === 1) {
        this.#escape = c === 0x75 ? 2 : 0; // \uXXXX
      } else if (this.#escape > 1) {
        this.#escape = this.#escape === 5 ? 0 : this.#escape + 1;
      } else if (c === 0x5c) {
        this.#escape = 1;
        this.#escapeStart = i;
      } else if (c === 0x22) {
        this.#inString = false;
        if (this.#strings === this.#cutString) return i;
      }
    }
    return -1;
  }
}
