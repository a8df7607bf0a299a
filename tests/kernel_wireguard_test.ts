/**
 * Kernel WireGuard for real: this host's kernel has no WireGuard, so each test boots Debian's 6.1 kernel under QEMU
 * (tests/vm/harness.ts) and runs a guest script there: about 6 s from QEMU start to the guest command, in software
 * emulation, on an idle machine.
 *
 * @module
 */
import assert from "node:assert/strict";
import { runInVm } from "./vm/harness.ts";
import { isRoot, onPath, skipUnless } from "./support/requirements.ts";

const ignore = skipUnless(
  "kernel WireGuard in a VM",
  [onPath("qemu-system-x86_64"), "qemu-system-x86_64 (./scripts/install-test-deps.sh installs qemu-system-x86)"],
  [onPath("busybox"), "busybox (./scripts/install-test-deps.sh installs busybox-static)"],
  [onPath("depmod"), "depmod (./scripts/install-test-deps.sh installs kmod)"],
  [isRoot(), "root (the initramfs build writes /var/cache/siderolink-vm and may run apt-get update)"],
);

Deno.test({
  name: "VM harness: two kernel WireGuard interfaces set up with ip and wg ping6 each other across namespaces",
  ignore,
}, async () => {
  const run = await runInVm(["sh", "tests/vm/smoke.sh"]);
  console.error(
    `VM timings: build ${run.buildMs.toFixed(0)} ms, boot to command ${run.bootMs.toFixed(0)} ms, ` +
      `whole VM ${run.vmMs.toFixed(0)} ms`,
  );
  assert.equal(run.code, 0, "the guest smoke script failed (see its console output above)");
  assert.ok(run.output.some((line) => line.includes("smoke: kernel WireGuard tunnel works")));
});

Deno.test({
  name: "VM harness: a failing guest command's exit code comes back",
  ignore,
}, async () => {
  const run = await runInVm(["false"]);
  assert.equal(run.code, 1);
});

Deno.test({
  name: "KernelDevice in the VM: link, address, key, port, peers and a 1,000-peer batch agree with wg; ping6 works",
  ignore,
}, async () => {
  const run = await runInVm(["deno", "test", "-A", "--no-check", "--cached-only", "tests/vm/kernel_device_guest.ts"]);
  for (const line of run.output.filter((line) => line.includes("KernelDevice figures:"))) console.error(line);
  console.error(`VM timings: boot to command ${run.bootMs.toFixed(0)} ms, whole VM ${run.vmMs.toFixed(0)} ms`);
  assert.equal(run.code, 0, "the guest test failed (see its console output above)");
});
