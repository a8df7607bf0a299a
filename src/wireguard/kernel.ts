/**
 * The kernel WireGuard backend: rtnetlink for the link and its address, the "wireguard" generic netlink family
 * for keys, port and peers. Calls are synchronous netlink round trips (the kernel answers at once).
 *
 * @module
 */

import { UserError } from "../errors.ts";
import { type DeviceConfig, type DeviceInfo, SIDEROLINK_MTU } from "./device.ts";
import type { BackendName, Device } from "./device.ts";
import { NetlinkConnection } from "./netlink/connection.ts";
import { NETLINK_GENERIC } from "./netlink/constants.ts";
import { resolveFamily } from "./netlink/genetlink.ts";
import { checkLinkName, RtNetlink } from "./netlink/rtnetlink.ts";
import { encodeGetDevice, encodeSetDevice, WG_GENL_NAME } from "./netlink/wireguard.ts";
import { parseDevice } from "./netlink/wireguard_parse.ts";

const NO_KERNEL_WIREGUARD = 'this kernel has no WireGuard (the generic netlink family "wireguard" does not resolve); ' +
  'load the module with "modprobe wireguard", or use --wireguard-backend userspace';

/** Whether the kernel offers WireGuard: the generic netlink family "wireguard" resolves (loading its module). */
export function kernelWireGuardAvailable(): boolean {
  using connection = NetlinkConnection.open(NETLINK_GENERIC);
  return resolveFamily(connection, WG_GENL_NAME) !== undefined;
}

/**
 * A kernel WireGuard interface driven over netlink.
 *
 * @example
 * ```ts
 * const device = KernelDevice.open("siderolink");
 * await device.ensureLink();
 * await device.ensureAddress("fdae:41e4:649b:9303::1/64");
 * await device.configure({ privateKey, listenPort: 51821, peers: [{ publicKey, allowedIPs: ["fdae:…/128"] }] });
 * const info = await device.read();
 * await device.close();
 * ```
 */
export class KernelDevice implements Device {
  /** Always `kernel`. */
  readonly backend: BackendName = "kernel";
  /** The interface name. */
  readonly name: string;
  readonly #rtnetlink: RtNetlink;
  readonly #generic: NetlinkConnection;
  #family?: number;

  private constructor(name: string, rtnetlink: RtNetlink, generic: NetlinkConnection) {
    this.name = name;
    this.#rtnetlink = rtnetlink;
    this.#generic = generic;
  }

  /** Opens the netlink sockets for interface `name`; touches nothing yet. */
  static open(name: string): KernelDevice {
    checkLinkName(name);
    const rtnetlink = RtNetlink.open();
    try {
      return new KernelDevice(name, rtnetlink, NetlinkConnection.open(NETLINK_GENERIC));
    } catch (error) {
      rtnetlink.close();
      throw error;
    }
  }

  /** Creates the WireGuard link if missing (MTU 1280), then sets the MTU and brings it up. */
  ensureLink(): Promise<void> {
    return this.#run(() => {
      if (this.#rtnetlink.linkIndex(this.name) === undefined) {
        // Resolving the family first turns a kernel without WireGuard into one clear message.
        this.#familyId();
        this.#rtnetlink.createLink(this.name, "wireguard", SIDEROLINK_MTU);
      }
      this.#rtnetlink.setLink(this.name, { up: true, mtu: SIDEROLINK_MTU });
    });
  }

  /** Adds `cidr` (IPv6, e.g. `fd…::1/64`) without duplicate address detection unless it is already there. */
  ensureAddress(cidr: string): Promise<void> {
    return this.#run(() => this.#rtnetlink.addAddress(this.name, cidr));
  }

  /** Applies `config` in as many WG_CMD_SET_DEVICE messages as its peers need, one after another. */
  configure(config: DeviceConfig): Promise<void> {
    return this.#run(() => {
      const messages = encodeSetDevice(this.#familyId(), this.name, config);
      try {
        messages.forEach((message, i) =>
          this.#generic.request(
            message,
            `configure WireGuard device ${this.name} (message ${i + 1}/${messages.length})`,
          )
        );
      } finally {
        // The first message holds the private key: leave no copy of it behind.
        for (const message of messages) message.fill(0);
      }
    });
  }

  /** Reads the device and all its peers (one WG_CMD_GET_DEVICE dump). */
  read(): Promise<DeviceInfo> {
    return this.#run(() =>
      parseDevice(
        this.#generic.request(encodeGetDevice(this.#familyId(), this.name), `read WireGuard device ${this.name}`),
      )
    );
  }

  /** Deletes the link; an absent link is not an error. */
  deleteLink(): Promise<void> {
    return this.#run(() => this.#rtnetlink.deleteLink(this.name));
  }

  /** Closes the sockets; the link and its peers stay. */
  close(): Promise<void> {
    return this.#run(() => {
      this.#rtnetlink.close();
      this.#generic.close();
    });
  }

  #familyId(): number {
    this.#family ??= resolveFamily(this.#generic, WG_GENL_NAME);
    if (this.#family === undefined) throw new UserError(`WireGuard interface ${this.name}: ${NO_KERNEL_WIREGUARD}`);
    return this.#family;
  }

  // Runs a synchronous netlink exchange as the Device interface's promise (errors become rejections).
  #run<T>(work: () => T): Promise<T> {
    try {
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(error);
    }
  }
}
