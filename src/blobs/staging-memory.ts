/**
 * Staging memory for large transfers: a few big buffers, page-aligned (usable with O_DIRECT) and,
 * where the runtime allows, shared with the hash thread (hash-thread.ts) so that it hashes them in
 * place. Kept in a small pool: mapping memory is a syscall and a page-fault per page, and an
 * upload or download of a large blob needs its buffers again and again.
 */
export interface Staging {
  /** STAGING_SLOTS buffers of STAGING_SLOT_BYTES each. */
  readonly buffers: readonly Buffer[];
  /** The buffers' memory when the hash thread can read it in place; null without shared memory. */
  readonly shared: SharedArrayBuffer | null;
  /** Page-aligned: fit for O_DIRECT. */
  readonly aligned: boolean;
}

/** Size of each buffer: large reads and writes keep the device busy with few syscalls. */
export const STAGING_SLOT_BYTES = 2 * 1024 * 1024;
/** Buffers per transfer: one being filled, the others on their way (disk, socket, hash thread). */
export const STAGING_SLOTS = 4;
/** Idle stagings kept for the next transfers; more are left to the GC. */
const IDLE_STAGINGS = 4;

const idle: Staging[] = [];

export function acquireStaging(): Staging {
  const reused = idle.pop();
  if (reused) return reused;
  const memory = alignedMemory(STAGING_SLOTS * STAGING_SLOT_BYTES);
  const whole = memory ? Buffer.from(memory) : Buffer.allocUnsafeSlow(STAGING_SLOTS * STAGING_SLOT_BYTES);
  const buffers = Array.from({ length: STAGING_SLOTS }, (_, i) => whole.subarray(i * STAGING_SLOT_BYTES, (i + 1) * STAGING_SLOT_BYTES));
  return { buffers, shared: memory instanceof SharedArrayBuffer ? memory : null, aligned: memory !== null };
}

/** Gives a staging back; only once nothing (a write, a socket, the hash thread) uses its buffers. */
export function releaseStaging(staging: Staging): void {
  if (idle.length < IDLE_STAGINGS && !idle.includes(staging)) idle.push(staging);
}

/**
 * `bytes` of page-aligned memory, shared with threads where the runtime allows, or null. Node has
 * no aligned allocation (a Buffer starts 16 bytes past a page boundary, where glibc puts its
 * header); a WebAssembly.Memory is mapped whole pages, so its buffer starts on one.
 */
export function alignedMemory(bytes: number): SharedArrayBuffer | ArrayBuffer | null {
  const pages = Math.ceil(bytes / WASM_PAGE);
  try {
    return new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true }).buffer;
  } catch {
    try {
      return new WebAssembly.Memory({ initial: pages, maximum: pages }).buffer;
    } catch {
      return null;
    }
  }
}

const WASM_PAGE = 64 * 1024;
/** The part of the WebAssembly API used here (the compiler's libs for Node do not declare it). */
declare const WebAssembly: {
  Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => { buffer: ArrayBuffer | SharedArrayBuffer };
};
