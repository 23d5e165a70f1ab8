/**
 * The form of a PostgreSQL `database.url`, checked when the configuration loads so that a
 * malformed URL is a CONFIG_INVALID naming the problem, not a driver error at the first query.
 * Messages never repeat the URL: it may hold a password.
 */

/** The `sslmode` values the `pg` driver understands. */
const SSL_MODES = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify'] as const;

/** Why `url` (a postgres:// or postgresql:// URL) cannot be used, or undefined when it can. */
export function postgresUrlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not a valid URL; percent-encode special characters (`@`, `/`, `:`, `#`, `?`) in the user name and password';
  }
  const socketHost = parsed.searchParams.get('host');
  if (parsed.hostname === '' && !socketHost) return 'has no host: write postgres://user:password@host:5432/database';
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (database.includes('/')) return 'has a path with more than one segment; the path is the database name';
  const sslmode = parsed.searchParams.get('sslmode');
  if (sslmode !== null && !(SSL_MODES as readonly string[]).includes(sslmode)) {
    return `has sslmode=${sslmode}; use one of ${SSL_MODES.join(', ')}`;
  }
  return undefined;
}
