/**
 * What one back-end says about itself: ready, or not with a reason. The reason is served to
 * anyone (/readyz needs no auth): it names the back-end and what fails, never an address, a
 * credential or a driver's error text (those go to the log).
 */
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
