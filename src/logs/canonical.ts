/**
 * The receiver's fast path: one pass over a line's bytes that proves the full path (`JSON.parse`, then
 * {@link LineFormatter}) would print the same bytes for it, and writes the output line with the annotation keys
 * spliced in at their sorted places. Talos writes its records with Go's `json.Marshal` of a map (keys sorted, no
 * whitespace), so nearly every line it sends qualifies; a line that does not (whitespace, keys out of order or
 * repeated, a record key that is an annotation's, numbers other than short integers, invalid UTF-8, control
 * characters, deep nesting, non-ASCII or escaped keys, an escaped `talos-time`, `talos-level` or `priority`) is
 * left to the full path, never guessed at.
 *
 * What the full path prints, and so what the output must be: `JSON.stringify` of the parsed record with its keys
 * sorted by byte order; strings as `JSON.stringify` writes them (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, other
 * control characters as `\u00xx`, lone surrogates as `\udxxx`, everything else raw UTF-8). Go escapes more
 * (`\u003c`, `\u003e`, `\u0026`, `\u2028`, `\u2029`, `\ufffd`, before Go 1.22 `\u0008` and `\u000c`): any escape is
 * decoded and written the way `JSON.stringify` writes its character, which is what the full path does. Nested
 * objects keep their key order in the full path except that array-index keys move first and repeated keys merge,
 * so nested keys must be increasing (as Go writes them) and not all digits.
 *
 * @module
 */

import { compareBytes, levelFrom, rfc3339UtcMsOfBytes, type TalosLevel } from "./record.ts";

const NEWLINE = 0x0a, QUOTE = 0x22, BACKSLASH = 0x5c, COMMA = 0x2c, COLON = 0x3a, OPEN_BRACE = 0x7b, CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b, CLOSE_BRACKET = 0x5d, MINUS = 0x2d, ZERO = 0x30, NINE = 0x39;

/** Deepest nesting of objects and arrays the fast path takes (the record itself is depth 1). */
const MAX_DEPTH = 32;

/** Most digits of an integer the fast path takes: all such integers are exact doubles, printed back unchanged. */
const MAX_DIGITS = 15;

const HEX = new TextEncoder().encode("0123456789abcdef");

/** 1 for the bytes a string holds as they are: ASCII but control characters, `"` and `\\`. */
const PLAIN = new Uint8Array(256).map((_, c) => c >= 0x20 && c < 0x80 && c !== QUOTE && c !== BACKSLASH ? 1 : 0);
const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");

/** The short escapes `JSON.stringify` writes, by character; 0 where it writes `\u00xx` or the character. */
const SHORT_ESCAPE = new Uint8Array(0x60);
SHORT_ESCAPE[0x08] = 0x62; // \b
SHORT_ESCAPE[0x09] = 0x74; // \t
SHORT_ESCAPE[0x0a] = 0x6e; // \n
SHORT_ESCAPE[0x0c] = 0x66; // \f
SHORT_ESCAPE[0x0d] = 0x72; // \r
SHORT_ESCAPE[QUOTE] = QUOTE;
SHORT_ESCAPE[BACKSLASH] = BACKSLASH;

/** The record keys the receiver reads, by what it reads them for. */
const enum Wanted {
  None,
  Clock,
  Seq,
  Time,
  Level,
  Priority,
}

const WANTED_KEYS: [Uint8Array, Wanted][] = [
  [encoder.encode("clock"), Wanted.Clock],
  [encoder.encode("seq"), Wanted.Seq],
  [encoder.encode("talos-time"), Wanted.Time],
  [encoder.encode("talos-level"), Wanted.Level],
  [encoder.encode("priority"), Wanted.Priority],
];

/** Values of `talos-level` and `priority` that mean something to {@link levelFrom}; any other string is "". */
const KNOWN_NAMES = ["error", "warn", "info", "debug", "emerg", "alert", "crit", "err", "warning", "notice"]
  .map((name) => ({ name, bytes: encoder.encode(name) }));

/**
 * Splices one machine's annotations into canonical lines. Not re-entrant (one scan at a time); the fields after
 * a successful {@link splice} describe the record just scanned.
 *
 * @example
 * ```ts
 * const splicer = new LineSplicer({ server_uuid: "0f3c…", cluster: "prod" });
 * const line = new TextEncoder().encode('{"msg":"hi","seq":1}');
 * const out = new Uint8Array(line.length + splicer.extraBytes);
 * const n = splicer.splice(line, 0, line.length, out); // '{"cluster":"prod","msg":"hi","seq":1,"server_uuid":"0f3c…"}'
 * splicer.seq; // 1
 * ```
 */
export class LineSplicer {
  /** The annotation keys, sorted by byte order, and each one's output `"key":"value"`. */
  readonly #keys: Uint8Array[];
  readonly #pieces: Uint8Array[];
  /** Most bytes the output line has beyond the input line. */
  readonly extraBytes: number;

  /** The record's `seq` when it is a safe integer, else undefined. */
  seq: number | undefined;
  /** The record's `clock` when it is a number, else undefined. */
  clock: number | undefined;
  /** Where the line ended (its `\n`, or the end given), after a successful {@link splice}. */
  lineEnd = 0;
  /** The record's level, as {@link levelFrom} gives it. */
  level: TalosLevel = "info";
  #timeStart = -1;
  #timeEnd = -1;
  #talosLevel: string | undefined;
  #priority: string | undefined;

  /** The annotations `from` to `to`, joined by commas, at `from × annotations + to`. */
  readonly #joined: Uint8Array[] = [];
  /** The top-level keys of the last record taken, and what was worked out for them. */
  #shape = new Shape();
  /** The top-level keys of the record being scanned. */
  readonly #seen = new SeenKeys();

  // The scan's state.
  #src: Uint8Array = new Uint8Array(0);
  #end = 0;
  #out: Uint8Array = new Uint8Array(0);
  #i = 0;
  #o = 0;
  /** Where the output line starts in `#out`. */
  #outStart = 0;
  /** Whether the last string scanned was plain: ASCII, no escape (so its bytes are its value). */
  #plain = false;
  /** The last number scanned. */
  #number = 0;

  constructor(annotation: Readonly<Record<string, string>>) {
    const keys = Object.keys(annotation).sort(compareBytes);
    this.#keys = keys.map((key) => encoder.encode(key));
    this.#pieces = keys.map((key) => encoder.encode(`${JSON.stringify(key)}:${JSON.stringify(annotation[key])}`));
    this.extraBytes = this.#pieces.reduce((sum, piece) => sum + piece.length + 1, 0);
  }

  /**
   * Writes the output line of the line at `src[start]` into `out` from `at` on (room for at least the line's
   * length plus {@link extraBytes}) and returns its length, or -1 when the line is not provably canonical (then
   * `out` holds nothing of use and the line belongs to the full path). With `complete`, the line is `src[start, end)`;
   * without, it is the bytes before the first `\n` in `src[start, end)` (a canonical line holds no raw `\n`, so
   * its scan stops right there: the caller need not look for the line's end first). {@link lineEnd} tells where
   * the line ended.
   */
  splice(src: Uint8Array, start: number, end: number, out: Uint8Array, complete = true, at = 0): number {
    if (end - start < 2 || src[start] !== OPEN_BRACE || (complete && src[end - 1] !== CLOSE_BRACE)) return -1;
    this.#src = src;
    this.#end = end;
    this.#out = out;
    this.#i = start + 1;
    this.#o = at;
    this.#outStart = at;
    this.seq = undefined;
    this.clock = undefined;
    this.#timeStart = -1;
    this.#talosLevel = undefined;
    this.#priority = undefined;
    out[this.#o++] = OPEN_BRACE;
    const shape = this.#shape, seen = this.#seen;
    seen.count = 0;
    let next = 0; // the next annotation to write
    let matched = 0; // how many keys so far are the shape's
    if (src[this.#i] !== CLOSE_BRACE) {
      for (let k = 0;; k++) {
        let wanted: Wanted;
        if (matched === k && k < shape.count && startsWith(src, this.#i, end, shape.keys[k])) {
          // The keys so far are those of the last record, checked then: in order, none an annotation's.
          matched++;
          next = this.#annotate(next, shape.before[k]);
          wanted = shape.wanted[k];
          if (this.#o > this.#outStart + 1) out[this.#o++] = COMMA;
          const key = shape.keys[k];
          let o = this.#o;
          for (let b = 0; b < key.length; b++) out[o++] = key[b]; // "key":
          this.#o = o;
          this.#i += key.length;
        } else {
          const keyStart = this.#i + 1;
          const keyEnd = this.#key();
          if (keyEnd < 0) return -1;
          if (k > 0 && this.#keyOrder(k - 1, matched, keyStart, keyEnd) >= 0) return -1;
          // The annotations that sort before this key go first; a record key that is an annotation's is the full
          // path's business (the annotation wins there).
          const keys = this.#keys;
          let before = next;
          for (; before < keys.length; before++) {
            const order = compareRanges(keys[before], 0, keys[before].length, src, keyStart, keyEnd);
            if (order === 0) return -1;
            if (order > 0) break;
          }
          next = this.#annotate(next, before);
          wanted = wantedKey(src, keyStart, keyEnd);
          seen.note(k, keyStart - 1, keyEnd + 2, next, wanted);
          if (this.#o > this.#outStart + 1) out[this.#o++] = COMMA;
          this.#copy(keyStart - 1, keyEnd + 2); // "key":
          this.#i = keyEnd + 2;
        }
        seen.count = k + 1;
        const valueStart = this.#i;
        if (!this.#value(1)) return -1;
        if (wanted !== Wanted.None && !this.#take(wanted, valueStart)) return -1;
        if (this.#i >= end) return -1;
        const c = src[this.#i++];
        if (c === COMMA) continue;
        if (c === CLOSE_BRACE && this.#endsHere(complete)) break;
        return -1;
      }
    } else if (++this.#i, !this.#endsHere(complete)) return -1;
    this.lineEnd = this.#i;
    this.#annotate(next, this.#keys.length);
    out[this.#o++] = CLOSE_BRACE;
    if (matched !== seen.count || matched !== shape.count) this.#shape = seen.shape(src, shape, matched);
    this.level = levelFrom(this.#talosLevel, this.#priority);
    return this.#o - at;
  }

  /** Whether the line ends at `#i`, right after its closing brace. */
  #endsHere(complete: boolean): boolean {
    return complete ? this.#i === this.#end : this.#i < this.#end && this.#src[this.#i] === NEWLINE;
  }

  /** Writes annotations `from` to `to` (exclusive); returns `to`. */
  #annotate(from: number, to: number): number {
    if (from === to) return to;
    const out = this.#out;
    if (this.#o > this.#outStart + 1) out[this.#o++] = COMMA;
    const joined = this.#joined[from * this.#keys.length + to] ??= joinPieces(this.#pieces.slice(from, to));
    out.set(joined, this.#o);
    this.#o += joined.length;
    return to;
  }

  /** Compares top-level key `k` (the shape's when `k` < `matched`) with the key `src[start, end)`. */
  #keyOrder(k: number, matched: number, start: number, end: number): number {
    if (k < matched) {
      const key = this.#shape.keys[k]; // "key":
      return compareRanges(key, 1, key.length - 2, this.#src, start, end);
    }
    const seen = this.#seen;
    return compareRanges(this.#src, seen.starts[k] + 1, seen.ends[k] - 2, this.#src, start, end);
  }

  /** The record's `talos-time` in ms since the epoch, as `recordTimeMs` reads it (after a successful splice). */
  timeMs(): number | undefined {
    if (this.#timeStart < 0) return undefined;
    const ms = rfc3339UtcMsOfBytes(this.#src, this.#timeStart, this.#timeEnd) ??
      Date.parse(latin1.decode(this.#src.subarray(this.#timeStart, this.#timeEnd)));
    return Number.isFinite(ms) ? ms : undefined;
  }

  /** Notes the value of a key the receiver reads; false when its value needs the full path to be read. */
  #take(wanted: Wanted, valueStart: number): boolean {
    const src = this.#src;
    const isString = src[valueStart] === QUOTE;
    const isNumber = !isString && (src[valueStart] === MINUS || (src[valueStart] >= ZERO && src[valueStart] <= NINE));
    if (wanted === Wanted.Clock) {
      if (isNumber) this.clock = this.#number;
    } else if (wanted === Wanted.Seq) {
      if (isNumber) this.seq = this.#number;
    } else if (isString) {
      if (!this.#plain) return false;
      const from = valueStart + 1, to = this.#i - 1;
      if (wanted === Wanted.Time) {
        this.#timeStart = from;
        this.#timeEnd = to;
      } else if (wanted === Wanted.Level) this.#talosLevel = knownName(src, from, to);
      else this.#priority = knownName(src, from, to);
    }
    return true;
  }

  /**
   * Scans a key at `#i` (the opening quote) and its colon: printable ASCII without escapes. Returns where its
   * closing quote is, or -1.
   */
  #key(): number {
    const src = this.#src, end = this.#end;
    let i = this.#i;
    if (i >= end || src[i] !== QUOTE) return -1;
    i++;
    for (;;) {
      if (i >= end) return -1;
      const c = src[i];
      if (c === QUOTE) break;
      if (c < 0x20 || c >= 0x7f || c === BACKSLASH) return -1;
      i++;
    }
    return src[i + 1] === COLON ? i : -1;
  }

  /** Scans and writes the value at `#i`, at nesting `depth`; false when it is not canonical. */
  #value(depth: number): boolean {
    if (this.#i >= this.#end) return false;
    const c = this.#src[this.#i];
    if (c === QUOTE) return this.#string();
    if (c === MINUS || (c >= ZERO && c <= NINE)) return this.#integer();
    if (c === OPEN_BRACE) return depth < MAX_DEPTH && this.#object(depth + 1);
    if (c === OPEN_BRACKET) return depth < MAX_DEPTH && this.#array(depth + 1);
    if (c === 0x74) return this.#literal(TRUE);
    if (c === 0x66) return this.#literal(FALSE);
    if (c === 0x6e) return this.#literal(NULL);
    return false;
  }

  #literal(word: Uint8Array): boolean {
    const src = this.#src, i = this.#i;
    if (i + word.length > this.#end) return false;
    for (let k = 1; k < word.length; k++) if (src[i + k] !== word[k]) return false;
    this.#copy(i, i + word.length);
    this.#i = i + word.length;
    return true;
  }

  /** An integer of at most {@link MAX_DIGITS} digits, as `JSON.stringify` prints it (no `-0`, no leading zero). */
  #integer(): boolean {
    const src = this.#src, end = this.#end, start = this.#i;
    let i = start;
    const negative = src[i] === MINUS;
    if (negative) i++;
    const first = i;
    let value = 0;
    while (i < end && src[i] >= ZERO && src[i] <= NINE) value = value * 10 + (src[i++] - ZERO);
    const digits = i - first;
    if (digits === 0 || digits > MAX_DIGITS || (src[first] === ZERO && (digits > 1 || negative))) return false;
    const c = src[i];
    if (c === 0x2e || c === 0x65 || c === 0x45) return false; // a fraction or an exponent
    this.#number = negative ? -value : value;
    this.#copy(start, i);
    this.#i = i;
    return true;
  }

  #array(depth: number): boolean {
    const src = this.#src;
    this.#out[this.#o++] = OPEN_BRACKET;
    this.#i++;
    if (src[this.#i] === CLOSE_BRACKET) {
      this.#out[this.#o++] = CLOSE_BRACKET;
      this.#i++;
      return true;
    }
    for (;;) {
      if (!this.#value(depth) || this.#i >= this.#end) return false;
      const c = src[this.#i++];
      this.#out[this.#o++] = c;
      if (c === COMMA) continue;
      return c === CLOSE_BRACKET;
    }
  }

  #object(depth: number): boolean {
    const src = this.#src;
    this.#out[this.#o++] = OPEN_BRACE;
    this.#i++;
    if (src[this.#i] === CLOSE_BRACE) {
      this.#out[this.#o++] = CLOSE_BRACE;
      this.#i++;
      return true;
    }
    let previousStart = -1, previousEnd = -1;
    for (;;) {
      const keyStart = this.#i + 1;
      const keyEnd = this.#key();
      if (keyEnd < 0 || allDigits(src, keyStart, keyEnd)) return false;
      // Increasing keys: none repeated, and the order the full path keeps.
      if (previousStart >= 0 && compareRanges(src, previousStart, previousEnd, src, keyStart, keyEnd) >= 0) {
        return false;
      }
      this.#copy(keyStart - 1, keyEnd + 2);
      this.#i = keyEnd + 2;
      if (!this.#value(depth) || this.#i >= this.#end) return false;
      previousStart = keyStart;
      previousEnd = keyEnd;
      const c = src[this.#i++];
      this.#out[this.#o++] = c;
      if (c === COMMA) continue;
      return c === CLOSE_BRACE;
    }
  }

  /** A string at `#i` (its opening quote), written as `JSON.stringify` writes its value. */
  #string(): boolean {
    const src = this.#src, end = this.#end, out = this.#out;
    let i = this.#i + 1, o = this.#o;
    let plain = true;
    out[o++] = QUOTE;
    for (;;) {
      if (i >= end) return false;
      const c = src[i];
      if (PLAIN[c] === 1) {
        out[o++] = c;
        i++;
        continue;
      }
      if (c === QUOTE) break;
      if (c === BACKSLASH) {
        plain = false;
        if (i + 1 >= end) return false;
        const e = src[i + 1];
        if (e === 0x75) { // \uXXXX
          let unit = hex4(src, i + 2, end);
          if (unit < 0) return false;
          i += 6;
          if (unit >= 0xd800 && unit <= 0xdbff && src[i] === BACKSLASH && src[i + 1] === 0x75) {
            const low = hex4(src, i + 2, end);
            if (low >= 0xdc00 && low <= 0xdfff) {
              unit = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
              i += 6;
            }
          }
          o = writeCharacter(out, o, unit);
        } else {
          const value = e === 0x22 || e === BACKSLASH || e === 0x2f
            ? e
            : e === 0x62
            ? 0x08
            : e === 0x66
            ? 0x0c
            : e === 0x6e
            ? 0x0a
            : e === 0x72
            ? 0x0d
            : e === 0x74
            ? 0x09
            : -1;
          if (value < 0) return false;
          o = writeCharacter(out, o, value);
          i += 2;
        }
        continue;
      }
      if (c < 0x20) return false; // a raw control character is no JSON
      plain = false;
      const length = utf8Length(src, i, end);
      if (length === 0) return false;
      for (let k = 0; k < length; k++) out[o++] = src[i + k];
      i += length;
    }
    out[o++] = QUOTE;
    this.#i = i + 1;
    this.#o = o;
    this.#plain = plain;
    return true;
  }

  /** Copies `src[from, to)` to the output as it is. */
  #copy(from: number, to: number): void {
    const src = this.#src, out = this.#out;
    let o = this.#o;
    for (let i = from; i < to; i++) out[o++] = src[i];
    this.#o = o;
  }
}

/** Top-level keys of a record: each one's `"key":`, the annotations written before it, what it is read for. */
class Shape {
  count = 0;
  keys: Uint8Array[] = [];
  before: number[] = [];
  wanted: Wanted[] = [];
}

/**
 * The top-level keys of the record being scanned: those after the ones that match the shape, as positions of
 * their `"key":` in the line.
 */
class SeenKeys {
  count = 0;
  readonly starts: number[] = [];
  readonly ends: number[] = [];
  readonly before: number[] = [];
  readonly wanted: Wanted[] = [];

  note(k: number, start: number, end: number, before: number, wanted: Wanted): void {
    this.starts[k] = start;
    this.ends[k] = end;
    this.before[k] = before;
    this.wanted[k] = wanted;
  }

  /** These keys as the shape of the next records: the first `matched` from `shape`, the rest copied from `src`. */
  shape(src: Uint8Array, shape: Shape, matched: number): Shape {
    const made = new Shape();
    made.count = this.count;
    for (let k = 0; k < this.count; k++) {
      const own = k >= matched;
      made.keys.push(own ? src.slice(this.starts[k], this.ends[k]) : shape.keys[k]);
      made.before.push(own ? this.before[k] : shape.before[k]);
      made.wanted.push(own ? this.wanted[k] : shape.wanted[k]);
    }
    return made;
  }
}

const TRUE = encoder.encode("true"), FALSE = encoder.encode("false"), NULL = encoder.encode("null");

/**
 * Writes one character (a code point, or a lone surrogate) as `JSON.stringify` writes it inside a string;
 * returns the new output position.
 */
function writeCharacter(out: Uint8Array, o: number, c: number): number {
  if (c < 0x60 && (c < 0x20 || c === QUOTE || c === BACKSLASH)) {
    out[o++] = BACKSLASH;
    const short = SHORT_ESCAPE[c];
    if (short !== 0) out[o++] = short;
    else o = writeUnitEscape(out, o, c);
  } else if (c < 0x80) out[o++] = c;
  else if (c < 0x800) {
    out[o++] = 0xc0 | (c >> 6);
    out[o++] = 0x80 | (c & 0x3f);
  } else if (c >= 0xd800 && c <= 0xdfff) {
    out[o++] = BACKSLASH;
    o = writeUnitEscape(out, o, c);
  } else if (c < 0x10000) {
    out[o++] = 0xe0 | (c >> 12);
    out[o++] = 0x80 | ((c >> 6) & 0x3f);
    out[o++] = 0x80 | (c & 0x3f);
  } else {
    out[o++] = 0xf0 | (c >> 18);
    out[o++] = 0x80 | ((c >> 12) & 0x3f);
    out[o++] = 0x80 | ((c >> 6) & 0x3f);
    out[o++] = 0x80 | (c & 0x3f);
  }
  return o;
}

/** `uxxxx` in lowercase hex (after the backslash). */
function writeUnitEscape(out: Uint8Array, o: number, unit: number): number {
  out[o++] = 0x75;
  out[o++] = HEX[(unit >> 12) & 15];
  out[o++] = HEX[(unit >> 8) & 15];
  out[o++] = HEX[(unit >> 4) & 15];
  out[o++] = HEX[unit & 15];
  return o;
}

/** The four hex digits at `src[at]` as a number, or -1. */
function hex4(src: Uint8Array, at: number, end: number): number {
  if (at + 4 > end) return -1;
  let value = 0;
  for (let k = at; k < at + 4; k++) {
    const c = src[k];
    const digit = c >= ZERO && c <= NINE
      ? c - ZERO
      : c >= 0x61 && c <= 0x66
      ? c - 87
      : c >= 0x41 && c <= 0x46
      ? c - 55
      : -1;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

/** The length of the well-formed UTF-8 sequence of a non-ASCII character at `src[i]`, or 0 when it is not one. */
function utf8Length(src: Uint8Array, i: number, end: number): number {
  const c = src[i];
  if (c >= 0xc2 && c <= 0xdf) return i + 1 < end && isContinuation(src[i + 1]) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    if (i + 2 >= end) return 0;
    const c1 = src[i + 1];
    const low = c === 0xe0 ? 0xa0 : 0x80, high = c === 0xed ? 0x9f : 0xbf; // no overlong forms, no surrogates
    return c1 >= low && c1 <= high && isContinuation(src[i + 2]) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (i + 3 >= end) return 0;
    const c1 = src[i + 1];
    const low = c === 0xf0 ? 0x90 : 0x80, high = c === 0xf4 ? 0x8f : 0xbf; // no overlong forms, nothing past U+10FFFF
    return c1 >= low && c1 <= high && isContinuation(src[i + 2]) && isContinuation(src[i + 3]) ? 4 : 0;
  }
  return 0;
}

function isContinuation(c: number): boolean {
  return (c & 0xc0) === 0x80;
}

/** Compares `a[aStart, aEnd)` and `b[bStart, bEnd)` by byte order. */
function compareRanges(a: Uint8Array, aStart: number, aEnd: number, b: Uint8Array, bStart: number, bEnd: number) {
  const length = Math.min(aEnd - aStart, bEnd - bStart);
  for (let k = 0; k < length; k++) {
    const difference = a[aStart + k] - b[bStart + k];
    if (difference !== 0) return difference;
  }
  return (aEnd - aStart) - (bEnd - bStart);
}

/** The pieces joined by commas. */
function joinPieces(pieces: Uint8Array[]): Uint8Array {
  const joined = new Uint8Array(pieces.reduce((sum, piece) => sum + piece.length + 1, -1));
  let at = 0;
  for (const piece of pieces) {
    if (at > 0) joined[at++] = COMMA;
    joined.set(piece, at);
    at += piece.length;
  }
  return joined;
}

/** Whether `src[at, end)` starts with `prefix`. */
function startsWith(src: Uint8Array, at: number, end: number, prefix: Uint8Array): boolean {
  if (end - at < prefix.length) return false;
  for (let k = 0; k < prefix.length; k++) if (prefix[k] !== src[at + k]) return false;
  return true;
}

function sameRange(key: Uint8Array, src: Uint8Array, start: number, end: number): boolean {
  if (key.length !== end - start) return false;
  for (let k = 0; k < key.length; k++) if (key[k] !== src[start + k]) return false;
  return true;
}

function allDigits(src: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (src[i] < ZERO || src[i] > NINE) return false;
  return start < end;
}

/** Which of the keys the receiver reads `src[start, end)` is. */
function wantedKey(src: Uint8Array, start: number, end: number): Wanted {
  for (const [key, wanted] of WANTED_KEYS) if (sameRange(key, src, start, end)) return wanted;
  return Wanted.None;
}

/** The known level or priority name `src[start, end)` spells, or "" for any other (plain) string. */
function knownName(src: Uint8Array, start: number, end: number): string {
  for (const { name, bytes } of KNOWN_NAMES) if (sameRange(bytes, src, start, end)) return name;
  return "";
}
