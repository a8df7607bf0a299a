import { deepEqual, equal, throws } from "node:assert/strict";
import { DatagramRing } from "./datagram_ring.ts";

const datagram = (n: number) => new Uint8Array([n]);
const drain = (ring: DatagramRing) => {
  const out: number[] = [];
  for (let next = ring.shift(); next; next = ring.shift()) out.push(next[0]);
  return out;
};

Deno.test("the ring gives datagrams back oldest first", () => {
  const ring = new DatagramRing(3);
  equal(ring.shift(), undefined);
  for (const n of [1, 2]) equal(ring.push(datagram(n)), false);
  equal(ring.size, 2);
  deepEqual(drain(ring), [1, 2]);
  equal(ring.size, 0);
});

Deno.test("a full ring drops its oldest datagram, and says so", () => {
  const ring = new DatagramRing(3);
  const drops = [1, 2, 3, 4, 5].map((n) => ring.push(datagram(n)));
  deepEqual(drops, [false, false, false, true, true]);
  equal(ring.size, 3);
  deepEqual(drain(ring), [3, 4, 5]);
  // Wrapping around after a partial drain keeps the order.
  for (const n of [6, 7]) ring.push(datagram(n));
  equal(ring.shift()?.[0], 6);
  for (const n of [8, 9, 10]) ring.push(datagram(n));
  deepEqual(drain(ring), [8, 9, 10]);
});

Deno.test("clear empties the ring; a ring holds at least one datagram", () => {
  const ring = new DatagramRing(2);
  ring.push(datagram(1));
  ring.clear();
  equal(ring.size, 0);
  equal(ring.shift(), undefined);
  throws(() => new DatagramRing(0), /ring capacity 0/);
});
