/**
 * What the server keeps about itself: the installation it belongs to and its WireGuard identity.
 *
 * @module
 */

/** The installation's identity, created once and kept for the life of the deployment. */
export interface Installation {
  /** Random text (base64 of 32 bytes, as Sidero makes it); the network prefix is derived from it. */
  installationId: string;
  /** The server's WireGuard private key, 32 bytes. Never printed or logged. */
  privateKey: Uint8Array;
  /** The token machines must present to provision, when one is stored. Never printed or logged by serve. */
  joinToken?: string;
}
