/**
 * Configuration of the media forwarding unit (docs/media/forwarding-unit.md, "Configuration"): where
 * its UDP sockets bind and what address it announces, which ICE servers clients are told to use,
 * which remote candidates it accepts, and its limits. Every limit names its unit.
 */
import { BlockList, type IPVersion, isIPv4, type SocketAddress } from 'node:net';
import { z } from 'zod';

export const VIDEO_CODECS = ['VP8', 'VP9', 'H264', 'AV1'] as const;
export type VideoCodecName = (typeof VIDEO_CODECS)[number];

const ipv4 = z.string().refine((s) => isIPv4(s), 'expected an IPv4 address');
const cidr = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, 'expected an IPv4 network such as 127.0.0.0/8');

export const iceServerSchema = z.strictObject({
  urls: z
    .array(
      z
        .string()
        .regex(/^(stun|stuns|turn|turns):/, 'expected a stun:, stuns:, turn: or turns: URL')
        .max(512),
    )
    .min(1)
    .max(8),
  username: z.string().max(512).optional(),
  credential: z.string().max(512).optional(),
});
export type IceServer = z.infer<typeof iceServerSchema>;

export const mediaSchema = z.strictObject({
  /** Off: every media request is refused with MEDIA_DISABLED; nothing binds a UDP port. */
  enabled: z.boolean().default(true),
  /** The IPv4 address the unit's UDP sockets bind to. Default loopback: media from this machine only. */
  listenAddress: ipv4.default('127.0.0.1'),
  /**
   * The address the unit puts in its ICE candidates (what clients send to): a public address when the
   * Bridge sits behind a 1:1 NAT. Default: `listenAddress`.
   */
  announcedAddress: ipv4.optional(),
  /**
   * UDP ports for the unit's sockets, [min, max] inclusive (one socket per transport; each connection
   * in a room with media has up to two). Default: ports the system picks. With a range, a transport
   * is refused with MEDIA_UNAVAILABLE once every port in it is taken.
   */
  portRange: z.tuple([z.number().int().min(1024).max(65535), z.number().int().min(1024).max(65535)]).optional(),
  /**
   * STUN and TURN servers handed to clients in the `mediaJoin` result. The unit itself uses none:
   * it has a reachable address (`announcedAddress`) and never asks a public server about itself.
   */
  iceServers: z.array(iceServerSchema).max(8).default([]),
  /**
   * Remote ICE candidates are used, and STUN requests answered, only when their address is in one of
   * these networks; others are dropped and counted. Default: loopback only when `listenAddress` is
   * loopback (a loopback socket reaches nothing else); otherwise every IPv4 address but loopback and
   * link-local (`127.0.0.0/8`, `169.254.0.0/16`: this host's own services and the cloud metadata
   * address, which no remote peer has). Host names and mDNS (`.local`) candidates are always
   * dropped: resolving them would send traffic the operator did not ask for.
   */
  allowedRemoteNetworks: z.array(cidr).max(64).optional(),
  /** Video codecs offered and accepted, in order of preference. Audio is always Opus. */
  videoCodecs: z.array(z.enum(VIDEO_CODECS)).min(1).max(4).default(['VP8']),
  /** Audio and video tracks one connection may publish through the unit at once, over all rooms. */
  maxPublishedTracksPerConnection: z.number().int().positive().max(64).default(8),
  /** Tracks one connection may receive at once, over all rooms; subscriptions past it are not offered. */
  maxReceivedTracksPerConnection: z.number().int().positive().max(256).default(64),
  /** Rooms in which one connection may have media open at once (each costs up to two transports). */
  maxSessionsPerConnection: z.number().int().positive().max(64).default(4),
  /** A published video track sending faster than this (bits/s, averaged over a second) has packets dropped. */
  maxVideoBitrateBps: z.number().int().positive().default(4_000_000),
  /** The same for audio tracks. */
  maxAudioBitrateBps: z.number().int().positive().default(256_000),
  /**
   * Keyframe requests (PLI, FIR) from subscribers reach a publisher at most once per this many
   * milliseconds per track; the rest are counted and dropped. One subscriber that cannot decrypt
   * asks again and again: it must not make the publisher send keyframes in a storm.
   */
  keyframeRequestIntervalMs: z.number().int().positive().default(1000),
  /**
   * A receive offer not answered within this, or a transport not connected (ICE and DTLS) this long
   * after its first offer and answer, is given up: the transport closes (mediaClosed timeout). Ms.
   */
  negotiationTimeoutMs: z.number().int().positive().default(10_000),
});
export type MediaConfig = z.output<typeof mediaSchema>;

/** Never a remote peer of a unit that listens beyond loopback, unless the operator names them. */
const NOT_REMOTE_BY_DEFAULT = ['127.0.0.0/8', '169.254.0.0/16'];

/** A BlockList that matches its networks except some (`check` is all the unit calls). */
class NetworksExcept extends BlockList {
  readonly #except = new BlockList();

  constructor(except: string[]) {
    super();
    addNetworks(this.#except, except);
  }

  override check(address: SocketAddress): boolean;
  override check(address: string, family?: IPVersion): boolean;
  override check(address: string | SocketAddress, family?: IPVersion): boolean {
    return typeof address === 'string'
      ? super.check(address, family) && !this.#except.check(address, family)
      : super.check(address) && !this.#except.check(address);
  }
}

function addNetworks(list: BlockList, networks: readonly string[]): void {
  for (const network of networks) {
    const [address, bits] = network.split('/') as [string, string];
    list.addSubnet(address, Number(bits), 'ipv4');
  }
}

/** The networks whose candidates the unit uses, as a BlockList (Node's CIDR matcher). */
export function allowedNetworks(config: MediaConfig): BlockList {
  if (config.allowedRemoteNetworks !== undefined) {
    const list = new BlockList();
    addNetworks(list, config.allowedRemoteNetworks);
    return list;
  }
  if (config.listenAddress.startsWith('127.')) {
    const list = new BlockList();
    addNetworks(list, ['127.0.0.0/8']);
    return list;
  }
  const list = new NetworksExcept(NOT_REMOTE_BY_DEFAULT);
  addNetworks(list, ['0.0.0.0/0']);
  return list;
}

/** Checks what the schema cannot: a port range in order. Returns a message, or undefined. */
export function mediaConfigProblem(config: MediaConfig): string | undefined {
  if (config.portRange !== undefined && config.portRange[0] >= config.portRange[1]) {
    return `media.portRange: expected [min, max] with min < max, got [${config.portRange.join(', ')}]`;
  }
  try {
    allowedNetworks(config);
  } catch (error) {
    return `media.allowedRemoteNetworks: expected IPv4 networks such as 10.0.0.0/8, got ${JSON.stringify(config.allowedRemoteNetworks)} (${(error as Error).message})`;
  }
  return undefined;
}
