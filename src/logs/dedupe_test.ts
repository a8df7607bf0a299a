import assert from "node:assert/strict";
import { BOOTS_PER_MACHINE, Deduplicator, UNKNOWN_BOOT } from "./dedupe.ts";

const BOOT_A = Date.UTC(2026, 2, 2, 8, 0, 0);
const BOOT_B = Date.UTC(2026, 2, 2, 9, 30, 0);

/** A record of a boot: seq, clock (µs) and the talos-time Talos would compute with a boot-time error. */
function at(boot: number, seq: number, errorMs = 0): [number, number, number] {
  const clock = seq * 1_000_000 + 123;
  return [seq, clock, boot + errorMs + clock / 1000];
}

Deno.test("a resend of the ring buffer is dropped, new records after it pass", () => {
  const machine = new Deduplicator().machine("u-1");
  const first = [0, 1, 2, 3].map((seq) => machine.admit(...at(BOOT_A, seq)));
  assert.ok(first.every((boot) => boot === String(BOOT_A / 1000)));
  // The sender restarted: its boot-time estimate is a second off (whole-second uptime), the ring comes again.
  const again = [0, 1, 2, 3, 4, 5].map((seq) => machine.admit(...at(BOOT_A, seq, 999)));
  assert.deepEqual(again, [undefined, undefined, undefined, undefined, first[0], first[0]]);
});

Deno.test("a reboot restarts seq and is a new boot; the old boot is still recognised", () => {
  const dedupe = new Deduplicator();
  const machine = dedupe.machine("u-1");
  for (let seq = 0; seq < 100; seq++) assert.ok(machine.admit(...at(BOOT_A, seq)));
  const bootB = machine.admit(...at(BOOT_B, 0));
  assert.equal(bootB, String(BOOT_B / 1000));
  assert.equal(machine.admit(...at(BOOT_B, 1)), bootB);
  assert.equal(machine.admit(...at(BOOT_B, 1)), undefined);
  assert.equal(machine.admit(...at(BOOT_A, 50)), undefined);
  // Machines are independent.
  assert.ok(dedupe.machine("u-2").admit(...at(BOOT_A, 50)));
  assert.equal(dedupe.machine("u-1").admit(...at(BOOT_A, 50)), undefined);
});

Deno.test("state stays bounded: boots per machine and machines", () => {
  const machine = new Deduplicator().machine("u-1");
  for (let boot = 0; boot <= BOOTS_PER_MACHINE; boot++) machine.admit(...at(BOOT_A + boot * 3600_000, 5));
  // The first boot was forgotten, so its record counts as new again; the latest ones are remembered.
  assert.ok(machine.admit(...at(BOOT_A, 5)));
  assert.equal(machine.admit(...at(BOOT_A + BOOTS_PER_MACHINE * 3600_000, 5)), undefined);

  const dedupe = new Deduplicator(2);
  dedupe.machine("a").admit(...at(BOOT_A, 1));
  dedupe.machine("b").admit(...at(BOOT_A, 1));
  dedupe.machine("c").admit(...at(BOOT_A, 1));
  assert.ok(dedupe.machine("a").admit(...at(BOOT_A, 1)), "a was the least recent and was forgotten");
  assert.equal(dedupe.machine("c").admit(...at(BOOT_A, 1)), undefined);
});

Deno.test("records without seq, clock or time are never dropped", () => {
  const machine = new Deduplicator().machine("u-1");
  assert.equal(machine.admit(1, undefined, undefined), UNKNOWN_BOOT);
  assert.equal(machine.admit(1, undefined, undefined), UNKNOWN_BOOT);
  const [, clock, time] = at(BOOT_A, 1);
  assert.equal(machine.admit(undefined, clock, time), String(BOOT_A / 1000));
  assert.equal(machine.admit(undefined, clock, time), String(BOOT_A / 1000));
});

Deno.test("seeding from stored history recognises a replay after a restart of serve", () => {
  const machine = new Deduplicator().machine("u-1");
  machine.seed(String(BOOT_A / 1000), 10);
  machine.seed("", 5);
  machine.seed("garbage", 5);
  assert.equal(machine.admit(...at(BOOT_A, 10, 400)), undefined);
  assert.equal(machine.admit(...at(BOOT_A, 11, 400)), String(BOOT_A / 1000));
});
