/**
 * rtnetlink and generic netlink against the real kernel. Changes happen in a fresh network namespace: the test
 * process cannot enter one itself, so it runs this same file as a script under `ip netns exec` for each step
 * (see the bottom), and checks the results against `ip` as an independent witness.
 *
 * @module
 */

import { deepEqual, equal, match, ok, throws } from "node:assert/strict";
import { formatIPv6, parseIPv6 } from "../src/ipv6.ts";
import { KernelDevice, kernelWireGuardAvailable } from "../src/wireguard/kernel.ts";
import { NetlinkConnection } from "../src/wireguard/netlink/connection.ts";
import { NETLINK_GENERIC, NETLINK_ROUTE, NLM_F_REQUEST, NLMSG_NOOP } from "../src/wireguard/netlink/constants.ts";
import { MessageBuilder } from "../src/wireguard/netlink/encode.ts";
import { NetlinkError } from "../src/wireguard/netlink/errors.ts";
import { resolveFamily } from "../src/wireguard/netlink/genetlink.ts";
import { RtNetlink } from "../src/wireguard/netlink/rtnetlink.ts";
import { NetlinkSocket, RECEIVE_TIMEOUT_SECONDS } from "../src/wireguard/netlink/socket.ts";
import { NetNs } from "./support/netns.ts";
import { isRoot, onPath, skipUnless } from "./support/requirements.ts";

// The Deno running this test runs the steps too (the VM image has no scripts/deno wrapper).
const DENO = Deno.execPath();
const SELF = new URL(import.meta.url).pathname;

/** Runs one step of this file inside `ns` and returns what it printed as JSON. */
async function step(ns: NetNs, ...args: string[]): Promise<Record<string, unknown>> {
  return JSON.parse(await ns.exec(DENO, ["run", "-A", SELF, ...args]));
}

const canonical = (cidr: string): string => {
  const [address, prefix] = cidr.split("/");
  return `${formatIPv6(parseIPv6(address)!)}/${prefix}`;
};

const ignore = skipUnless(
  "rtnetlink in a namespace",
  [isRoot(), "root (network namespaces need CAP_SYS_ADMIN)"],
  [onPath("ip"), "ip (apt-get install iproute2)"],
);

Deno.test(
  { name: "rtnetlink creates a link, sets it up, adds an IPv6 address, reads it back, deletes it", ignore },
  async () => {
    await using ns = await NetNs.create("rtnl");
    const link = "slrt0";
    const cidr = "fdae:41e4:649b:9303::1/64";
    // This host's kernel lacks dummy; the VM's kernel lacks bridge: take the first kind `ip` can create.
    let kind: string | undefined;
    for (const candidate of ["dummy", "bridge", "wireguard"]) {
      if (await ns.exec("ip", ["link", "add", "probe0", "type", candidate]).then(() => true, () => false)) {
        await ns.exec("ip", ["link", "delete", "probe0"]);
        kind = candidate;
        break;
      }
    }
    ok(kind, "the kernel can create none of the link kinds dummy, bridge, wireguard");
    const created = await step(ns, "create", link, cidr, kind);
    deepEqual(created.createAgain, "EEXIST");

    // The witness: what `ip` sees in the namespace.
    const [shown] = JSON.parse(await ns.exec("ip", ["-j", "link", "show", "dev", link]));
    equal(shown.ifindex, created.index);
    equal(shown.mtu, 1280);
    ok(shown.flags.includes("UP"), `flags ${shown.flags}`);
    const [withAddresses] = JSON.parse(await ns.exec("ip", ["-j", "-6", "addr", "show", "dev", link]));
    const witnessed = withAddresses.addr_info.map((a: { local: string; prefixlen: number }) =>
      canonical(`${a.local}/${a.prefixlen}`)
    );
    deepEqual([...(created.addresses as string[])].sort(), [...witnessed].sort());
    ok(witnessed.includes(cidr));
    const ours = withAddresses.addr_info.find((a: { local: string }) => canonical(`${a.local}/64`) === cidr);
    equal(ours.nodad, true, "added without duplicate address detection");
    equal(ours.tentative, undefined, "usable at once, not tentative");

    const deleted = await step(ns, "delete", link);
    equal(deleted.indexAfter, null);
    await ns.exec("ip", ["link", "show", "dev", link]).then(
      () => Promise.reject(new Error(`${link} still exists`)),
      () => undefined,
    );
  },
);

Deno.test({
  name: "kernel WireGuard: availability matches what the kernel accepts, ensureLink says why it fails",
  ignore,
}, async () => {
  await using ns = await NetNs.create("kwg");
  // Witness: can `ip` create a wireguard link here?
  const witness = await ns.exec("ip", ["link", "add", "wgwitness", "type", "wireguard"]).then(() => true, () => false);
  const result = await step(ns, "kernel", "slwg0");
  equal(result.available, witness);
  if (!witness) {
    match(result.error as string, /WireGuard interface slwg0: this kernel has no WireGuard/);
    match(result.error as string, /modprobe wireguard.*--wireguard-backend userspace/);
    equal(result.name, "UserError");
    equal(result.linkAfter, null);
  } else {
    equal(result.error, undefined);
    const [shown] = JSON.parse(await ns.exec("ip", ["-j", "-d", "link", "show", "dev", "slwg0"]));
    equal(shown.linkinfo.info_kind, "wireguard");
    equal(shown.mtu, 1280);
  }
});

Deno.test("generic netlink resolves a real family and reports a missing one as absent", () => {
  using connection = NetlinkConnection.open(NETLINK_GENERIC);
  equal(resolveFamily(connection, "nlctrl"), 0x10);
  equal(resolveFamily(connection, "no-such-family"), undefined);
});

Deno.test("read-only rtnetlink in the host namespace: lo and a missing link", () => {
  using rt = RtNetlink.open();
  equal(rt.linkIndex("lo"), 1);
  ok(rt.addresses("lo").includes("::1/128"));
  equal(rt.linkIndex("sl-missing0"), undefined);
  throws(() => rt.addresses("sl-missing0"), /link sl-missing0 does not exist/);
});

Deno.test("a request the kernel does not answer fails after the receive timeout instead of hanging", () => {
  using socket = NetlinkSocket.open(NETLINK_ROUTE);
  // The kernel drops control messages (type below 0x10) silently unless NLM_F_ACK asks for an ack.
  socket.send(new MessageBuilder(NLMSG_NOOP, NLM_F_REQUEST).finish());
  const start = performance.now();
  throws(() => socket.receive(), (error: unknown) => error instanceof NetlinkError && error.code === "EAGAIN");
  const seconds = (performance.now() - start) / 1000;
  ok(seconds >= RECEIVE_TIMEOUT_SECONDS - 0.5 && seconds < RECEIVE_TIMEOUT_SECONDS + 3, `${seconds} s`);
});

// Steps run inside the namespace (`deno run tests/rtnetlink_test.ts <step> …`); each prints one JSON object.
if (import.meta.main) {
  const [command, link, cidr, kind] = Deno.args;
  const output: Record<string, unknown> = {};
  if (command === "create") {
    using rt = RtNetlink.open();
    rt.createLink(link, kind, 1280);
    try {
      rt.createLink(link, kind, 1280);
    } catch (error) {
      output.createAgain = error instanceof NetlinkError ? error.code : String(error);
    }
    rt.setLink(link, { up: true });
    rt.addAddress(link, cidr);
    rt.addAddress(link, cidr); // already there: no error
    output.index = rt.linkIndex(link);
    output.addresses = rt.addresses(link);
  } else if (command === "delete") {
    using rt = RtNetlink.open();
    rt.deleteLink(link);
    rt.deleteLink(link); // already gone: no error
    output.indexAfter = rt.linkIndex(link) ?? null;
  } else if (command === "kernel") {
    output.available = kernelWireGuardAvailable();
    const device = KernelDevice.open(link);
    try {
      await device.ensureLink();
    } catch (error) {
      output.error = (error as Error).message;
      output.name = (error as Error).constructor.name;
    }
    await device.close();
    using rt = RtNetlink.open();
    output.linkAfter = rt.linkIndex(link) ?? null;
  }
  console.log(JSON.stringify(output));
}
