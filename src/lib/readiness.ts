/** What one back-end says about itself: ready, or not with a reason an operator can act on. */
export type Readiness = { ready: true } | { ready: false; reason: string };

/**
 * One back-end an instance needs to serve (the database, Redis, later blobs or compute). /readyz
 * asks every check; answers should come from state the back-end already keeps (cheap, no round
 * trip per probe), and a check that must ask is bounded by the route's timeout.
 */
export interface ReadinessCheck {
  /** Short and stable, e.g. `redis`; it names the failing back-end in the 503 reply. */
  readonly name: string;
  check(): Readiness | Promise<Readiness>;
}
