import { REMOTE_HELP } from './remote-target.js';

/** The --help text of `mycel store`, `cat` and `load`: where they run and as whom. */
export const BLOB_CLI_HELP = `
These talk to a running node over its REST API (PUT/GET/HEAD /api/v1/blobs): the node of --node
(MYCEL_NODE_URL), else the local node at server.host and server.port (--config, MYCEL_HOST,
MYCEL_PORT; a wildcard host is reached over loopback), logged in as its owner with owner.password
(MYCEL_OWNER_PASSWORD), standard input (--password-stdin) or a prompt. No node running: start one
(mycel serve); the blob store belongs to the node's process. A progress bar is drawn on stderr when
it is a terminal and the transfer is over 4 MiB.

On a member's machine of a shared node (mycel serve --auth-group, docs/shared-node.md):
MYCEL_STORAGE_DIR (blobs.dir) at the mounted storage directory. When its node-id file names the
node, its client-token file is the credential (no log-in), and cat reads the bytes straight from
the mount, hash-checked (damaged: BLOB_CORRUPT, exit 1). Absent mount: over HTTP as above.
${REMOTE_HELP}`;
