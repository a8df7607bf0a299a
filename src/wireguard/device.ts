/**
 * One interface for driving a WireGuard device, with a kernel backend (netlink) and a userspace backend
 * (wireguard-go over the cross-platform UAPI). The shape follows wgctrl-go: public types here, wire code in
 * the backends.
 *
 * @module
 */

/** MTU of the SideroLink interface (PROTOCOL.md §1). */
export const SIDEROLINK_MTU = 1280;

/** A change to one peer, applied by {@linkcode Device.configure}. */
export interface PeerConfig {
  /** The peer's public key, 32 bytes. */
  publicKey: Uint8Array;
  /** Remove this peer (idempotent: removing an absent peer is not an error). */
  remove?: boolean;
  /** `ip:port` or `[ipv6]:port`; left as it is when undefined. */
  endpoint?: string;
  /** Seconds between keepalives, 0 disables; left as it is when undefined. */
  persistentKeepaliveInterval?: number;
  /** Replace the peer's allowed IPs with `allowedIPs` instead of adding to them (default true). */
  replaceAllowedIPs?: boolean;
  /** CIDRs (`fd…/128`) routed to this peer. */
  allowedIPs?: string[];
}

/** A batch of changes to the device; any number of peers, split over as many messages as the backend needs. */
export interface DeviceConfig {
  /** The device's private key, 32 bytes. Never logged. */
  privateKey?: Uint8Array;
  /** UDP listen port. */
  listenPort?: number;
  /** Remove every peer not named in `peers`. */
  replacePeers?: boolean;
  peers?: PeerConfig[];
}

/** A peer as the device reports it. */
export interface Peer {
  publicKey: Uint8Array;
  /** Learned from the handshake for SideroLink peers; undefined until then. */
  endpoint?: string;
  /** Undefined when no handshake ever completed. */
  lastHandshake?: Date;
  receiveBytes: number;
  transmitBytes: number;
  /** Seconds; 0 when disabled. */
  persistentKeepaliveInterval: number;
  /** CIDRs in canonical text (`fd…/128`). */
  allowedIPs: string[];
}

/** The device as it is now. */
export interface DeviceInfo {
  name: string;
  /** Undefined when no private key is set. */
  publicKey?: Uint8Array;
  listenPort: number;
  peers: Peer[];
}

/** Which implementation drives the device. */
export type BackendName = "kernel" | "userspace";

/** A WireGuard interface this process controls. */
export interface Device {
  readonly backend: BackendName;
  /** The interface name, e.g. `siderolink`. */
  readonly name: string;
  /** Creates the link if it is missing (MTU {@linkcode SIDEROLINK_MTU}) and sets it up. Idempotent. */
  ensureLink(): Promise<void>;
  /** Adds `cidr` (e.g. `fd…::1/64`) to the link unless it is there, without duplicate address detection. */
  ensureAddress(cidr: string): Promise<void>;
  /** Applies a batch of changes. */
  configure(config: DeviceConfig): Promise<void>;
  /** Reads the device and all its peers. */
  read(): Promise<DeviceInfo>;
  /** Deletes the link (and, for userspace, stops its process). */
  deleteLink(): Promise<void>;
  /** Releases this process's handles; the link and its peers stay. */
  close(): Promise<void>;
}
