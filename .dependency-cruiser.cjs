/**
 * The layer rule of docs/architecture.md, enforced by `npm run lint:layers` (part of `npm test`).
 * A module may import from its own layer and the layers before it, never from one after it,
 * and no import chain may come back to where it started (type-only imports count: a type
 * cycle ties files together as much as a value cycle does).
 *
 *   lib → config / errors / log → model → storage → domain → realtime → http → node → cli
 *
 * realtime/ and the services to come (network/, blobs/, compute/) share one layer but do not
 * import each other; they meet in the domain (its operations and its commit hook) and in the
 * node assembly.
 */
const LAYERS = [
  { name: 'lib', path: '^src/lib/' },
  { name: 'base', path: '^src/(config/|errors\\.ts$|log\\.ts$)' },
  { name: 'model', path: '^src/model/' },
  { name: 'storage', path: '^src/storage/' },
  { name: 'domain', path: '^src/domain/' },
  { name: 'services', path: '^src/(realtime|network|blobs|compute)/' },
  { name: 'http', path: '^src/http/' },
  { name: 'node', path: '^src/node/' },
  { name: 'cli', path: '^src/cli/' },
];
const SERVICES = ['realtime', 'network', 'blobs', 'compute'];

const upward = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `layer-${layer.name}`,
  comment: `${layer.name} may not import from a later layer (${LAYERS.slice(i + 1).map((l) => l.name).join(', ')})`,
  severity: 'error',
  from: { path: layer.path },
  to: { path: LAYERS.slice(i + 1).map((l) => l.path) },
}));

const siblings = SERVICES.map((service) => ({
  name: `service-${service}`,
  comment: `${service}/ may not import another service; they meet in the domain and the node assembly`,
  severity: 'error',
  from: { path: `^src/${service}/` },
  to: { path: `^src/(${SERVICES.filter((s) => s !== service).join('|')})/` },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'an import chain (type-only imports included) may not lead back to where it started',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'unlayered',
      comment: 'every module under src/ belongs to a layer of docs/architecture.md',
      severity: 'error',
      from: { path: '^src/', pathNot: LAYERS.map((l) => l.path) },
      to: {},
    },
    ...upward,
    ...siblings,
    {
      name: 'core-without-transports',
      comment: 'below http/ only realtime/transports and network/transports may use ws, realtime/redis ioredis; fastify is http/ and the node assembly',
      severity: 'error',
      from: { path: '^src/', pathNot: ['^src/(http|node|cli)/', '^src/realtime/transports/', '^src/network/transports/'] },
      to: { path: '(^|/)node_modules/(fastify|@fastify/[^/]+|ws)/' },
    },
    {
      name: 'redis-in-its-adapter',
      comment: 'ioredis only in realtime/redis/',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/realtime/redis/' },
      to: { path: '(^|/)node_modules/ioredis/' },
    },
  ],
  options: {
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.test\\.ts$' },
    preserveSymlinks: true,
  },
};
