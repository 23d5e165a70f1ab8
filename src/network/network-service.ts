/**
 * What the node network offers the layers above it (REST, CLI, metrics): its status and the
 * servers this node connects to. The contract of /work/wt/NETWORK.md ("Service surface");
 * `NetworkNode` (network-node.ts) implements it.
 */

/** The client's data role towards a server: `child` pulls from it, `parent` is pulled by it. */
export type ServerRole = 'child' | 'parent' | 'both';
/** How the client reaches the server: WebSocket, SSE + HTTP, or WebSocket falling back to SSE. */
export type ServerTransport = 'auto' | 'websocket' | 'sse';

export interface NetworkService {
  status(): NetworkStatus;
  /** Adds a server entry (persisted) and starts connecting to it. */
  addServer(entry: { url: string; password: string; role: ServerRole; transport?: ServerTransport }): Promise<ServerEntryView>;
  /** NETWORK_SERVER_NOT_FOUND (404); entries from the configuration cannot be removed (403 NETWORK_SERVER_FROM_CONFIG). */
  removeServer(id: string): Promise<void>;
  /** Every server entry, from the configuration and added at run time; never the password. */
  listServers(): ServerEntryView[];
}

/** A server entry as shown: never its password. */
export interface ServerEntryView {
  id: string;
  url: string;
  role: ServerRole;
  transport: ServerTransport;
  /** `config`: from network.servers (cannot be removed at run time); `runtime`: added over REST/CLI. */
  source: 'config' | 'runtime';
  createdAt: number | null;
}

export interface NetworkStatus {
  /** Links this node opened (one per server entry). */
  servers: LinkStatus[];
  /** Links client nodes opened to this node. */
  clients: LinkStatus[];
}

export interface LinkStatus {
  /** The server entry id, or the link id for clients. */
  id: string;
  /** Servers only. */
  url?: string;
  peerNodeId: string | null;
  peerName: string | null;
  /** This node's data roles on the link. */
  roles: { pull: boolean; serve: boolean };
  transport: 'websocket' | 'sse' | null;
  state: 'connecting' | 'connected' | 'backoff' | 'stopped';
  /** The peer serial imported (when pulling). */
  cursor: number | null;
  lagChanges: number | null;
  lagSeconds: number | null;
  lastError: { code: string; message: string; at: number } | null;
  sessionExpiresAt: number | null;
  importedTotal: number;
  sentTotal: number;
}
