import { BfdDiagnostic, BfdState, BfdTimers } from './bfd';
import { Logger } from './log';

/** What `LbPodBfd` needs of a BFD endpoint (BfdEndpoint). */
export interface BfdSessions {
  readonly peers: string[];
  add(peer: string, timers: BfdTimers): void;
  remove(peer: string): void;
}

/**
 * The reflector agent's BFD sessions, one per bound LB pod address, and the pods whose session
 * failed: up once, then down because the pod went silent (the detection time passed). Those are
 * unbound until their session is up again, which withdraws their paths within the detection time
 * instead of the BGP hold time. A pod that says AdminDown (it is stopping, and withdrew its routes
 * first) or whose session never came up (no BFD in the pod) stays bound: BGP decides for them.
 */
export class LbPodBfd {
  private readonly failed = new Set<string>();
  private readonly wasUp = new Set<string>();

  constructor(
    private readonly sessions: BfdSessions,
    private readonly timers: BfdTimers,
    private readonly onChange: () => void,
    private readonly log: Logger,
  ) {}

  /** Keeps exactly one session per address in `addresses` (bare IPs of the local family). */
  track(addresses: Iterable<string>): void {
    const wanted = new Set(addresses);
    for (const peer of this.sessions.peers) {
      if (wanted.has(peer)) continue;
      this.sessions.remove(peer);
      this.failed.delete(peer);
      this.wasUp.delete(peer);
    }
    for (const address of wanted) this.sessions.add(address, this.timers);
  }

  isFailed(address: string): boolean { return this.failed.has(address); }

  /** The endpoint's state listener. */
  onState(peer: string, state: BfdState, diagnostic: BfdDiagnostic): void {
    if (state === BfdState.UP) {
      this.wasUp.add(peer);
      if (this.failed.delete(peer)) {
        this.log.log('info', 'LB pod BFD session up again: binding it', { address: peer });
        this.onChange();
      }
    } else if (state === BfdState.DOWN && diagnostic === BfdDiagnostic.DETECTION_TIME_EXPIRED && this.wasUp.has(peer) && !this.failed.has(peer)) {
      this.failed.add(peer);
      this.log.log('warn', 'LB pod BFD session down (detection time expired): unbinding it', { address: peer });
      this.onChange();
    }
  }
}
