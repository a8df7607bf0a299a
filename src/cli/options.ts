/**
 * Parsers for flag values shared by the subcommands. Each throws commander's `InvalidArgumentError`, which
 * commander reports as one line naming the flag; the CLI turns it into exit code 2.
 *
 * @module
 */

import { InvalidArgumentError } from "commander";
import { parseDuration } from "../duration.ts";

/** Parses a TCP/UDP port number (1..65535). */
export function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65535) {
    throw new InvalidArgumentError("want a port number from 1 to 65535.");
  }
  return port;
}

/** Parses `HOST:PORT` or `[IPv6]:PORT`, returning it unchanged. */
export function parseHostPort(text: string): string {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^\s:\[\]]+):(\d+)$/.exec(text);
  if (!match) throw new InvalidArgumentError("want HOST:PORT, with an IPv6 address in brackets.");
  parsePort(match[2]);
  return text;
}

/** Parses a duration flag (`90s`, `5m`, `30d`) into milliseconds. */
export function parseDurationFlag(text: string): number {
  try {
    return parseDuration(text);
  } catch (error) {
    throw new InvalidArgumentError(`${(error as Error).message}.`);
  }
}

/** Parses a whole number of at least 1. */
export function parseCount(text: string): number {
  const count = Number(text);
  if (!/^\d+$/.test(text) || count < 1 || !Number.isSafeInteger(count)) {
    throw new InvalidArgumentError("want a whole number of at least 1.");
  }
  return count;
}
