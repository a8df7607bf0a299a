/**
 * Reading a child process's output one line at a time, for tests and benchmarks that wait for each line.
 *
 * @module
 */

/** Reads lines from `stream`; `next()` resolves with the next line (without `\n`) and rejects when the stream ends. */
export function lineReader(stream: ReadableStream<Uint8Array>): { next(): Promise<string>; cancel(): Promise<void> } {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  return {
    async next() {
      while (!buffered.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) throw new Error("the stream ended before a whole line");
        buffered += value;
      }
      const line = buffered.slice(0, buffered.indexOf("\n"));
      buffered = buffered.slice(line.length + 1);
      return line;
    },
    cancel: () => reader.cancel(),
  };
}
