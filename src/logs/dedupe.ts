/**
 * De-duplication of kernel records per machine and boot on `seq` (PROTOCOL.md §4).
 *
 * Talos reads the kernel ring buffer from its start whenever its log sender restarts, so records arrive again
 * with the seq numbers they had. Within one boot the kernel numbers records in order and Talos sends them in
 * order, so remembering the highest seq of each boot is enough: a record at or below it was seen already.
 *
 * A reboot restarts seq at 0, so each boot is told apart by its start time, estimated as `talos-time` minus
 * `clock`. Talos computes its boot time as "now minus the uptime in whole seconds" each time its reader starts,
 * so two sends of one record can disagree by about a second; estimates within {@link BOOT_TOLERANCE_MS} are the
 * same boot. A real reboot starts later than the previous boot by at least that boot's uptime, far more than the
 * tolerance. (A wall-clock step between two sends, e.g. the first NTP sync, can make one boot look like two; the
 * cost is that its replayed records are accepted once more.)
 *
 * State is bounded: {@link BOOTS_PER_MACHINE} boots per machine (the least recently used is forgotten) and
 * {@link MAX_MACHINES} machines.
 *
 * @module
 */

/** How far apart two boot-time estimates of the same boot may be. */
export const BOOT_TOLERANCE_MS = 10_000;

/** Boots remembered per machine. */
export const BOOTS_PER_MACHINE = 4;

/** Machines remembered; the one least recently connected is forgotten first. */
export const MAX_MACHINES = 100_000;

/** The boot key of records whose boot cannot be told (no `clock` or `talos-time`); they are never dropped. */
export const UNKNOWN_BOOT = "";

interface Boot {
  startMs: number;
  key: string;
  maxSeq: number;
  used: number;
}

/**
 * The de-duplication state of one machine. Keep it for the life of a connection: it saves a lookup per record.
 */
export class MachineDedupe {
  readonly #boots: Boot[] = [];
  #uses = 0;

  /**
   * Whether a record is new, as its boot key (stored with the line), or `undefined` for a duplicate.
   *
   * @param seq the record's `seq`, undefined when missing
   * @param clockUs the record's `clock` (µs since boot)
   * @param timeMs the record's `talos-time` in ms since the epoch
   */
  admit(seq: number | undefined, clockUs: number | undefined, timeMs: number | undefined): string | undefined {
    if (clockUs === undefined || timeMs === undefined) return UNKNOWN_BOOT;
    const boot = this.#boot(timeMs - clockUs / 1000);
    if (seq === undefined) return boot.key;
    if (seq <= boot.maxSeq) return undefined;
    boot.maxSeq = seq;
    return boot.key;
  }

  /** Remembers that a boot's records up to `maxSeq` were seen (from the store, at start-up). */
  seed(bootKey: string, maxSeq: number): void {
    const startMs = Number(bootKey) * 1000;
    if (bootKey === UNKNOWN_BOOT || !Number.isFinite(startMs)) return;
    const boot = this.#boot(startMs);
    boot.maxSeq = Math.max(boot.maxSeq, maxSeq);
  }

  /** The boot whose start is within the tolerance of `startMs`, created when there is none. */
  #boot(startMs: number): Boot {
    const uses = ++this.#uses;
    const boots = this.#boots;
    for (let i = 0; i < boots.length; i++) {
      const boot = boots[i];
      if (Math.abs(boot.startMs - startMs) <= BOOT_TOLERANCE_MS) {
        boot.used = uses;
        return boot;
      }
    }
    const boot: Boot = { startMs, key: String(Math.round(startMs / 1000)), maxSeq: -1, used: uses };
    if (boots.length >= BOOTS_PER_MACHINE) {
      let oldest = 0;
      for (let i = 1; i < boots.length; i++) if (boots[i].used < boots[oldest].used) oldest = i;
      boots.splice(oldest, 1);
    }
    boots.push(boot);
    return boot;
  }
}

/**
 * The de-duplication state of all machines, by server UUID.
 *
 * @example
 * ```ts
 * const dedupe = new Deduplicator();
 * const machine = dedupe.machine("0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f");
 * machine.admit(812, 1503112, Date.parse("2026-03-02T08:15:44.1038Z")); // "1772439343"
 * machine.admit(812, 1503112, Date.parse("2026-03-02T08:15:44.1038Z")); // undefined: seen
 * ```
 */
export class Deduplicator {
  readonly #machines = new Map<string, MachineDedupe>();
  readonly #maxMachines: number;

  constructor(maxMachines: number = MAX_MACHINES) {
    this.#maxMachines = maxMachines;
  }

  /** The state of one machine, created on first use. */
  machine(uuid: string): MachineDedupe {
    let machine = this.#machines.get(uuid);
    if (machine) this.#machines.delete(uuid); // re-inserted below: the map's order is the recency order
    else machine = new MachineDedupe();
    this.#machines.set(uuid, machine);
    if (this.#machines.size > this.#maxMachines) this.#machines.delete(this.#machines.keys().next().value!);
    return machine;
  }

  /** Forgets a machine (deleted from the state). */
  forget(uuid: string): void {
    this.#machines.delete(uuid);
  }
}
