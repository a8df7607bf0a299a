/**
 * serve's memory as the benchmarks report it: the resident set, right after a burst of work and once V8 has
 * collected its garbage.
 *
 * @module
 */

/**
 * The RSS once V8 has collected the garbage of a burst of work: its memory reducer does so on its own some seconds
 * after the allocations stop (about 20 s on the test machine). Polls each second for a drop of at least 10 MiB,
 * then takes the figure 3 s later; at most 60 s.
 */
export async function settledRss(pid: number): Promise<{ mib: number; how: string }> {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const began = performance.now();
  for (let previous = rssMiB(pid); performance.now() - began < 60_000; previous = Math.min(previous, rssMiB(pid))) {
    await sleep(1000);
    if (rssMiB(pid) < previous - 10) {
      const seconds = (performance.now() - began) / 1000;
      await sleep(3000);
      return { mib: rssMiB(pid), how: `collected by V8 ${seconds.toFixed(0)} s after the work stopped` };
    }
  }
  return { mib: rssMiB(pid), how: "no collection within 60 s" };
}

/** The resident memory of process `pid`, in MiB. */
export function rssMiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}
