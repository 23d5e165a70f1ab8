/**
 * The listeners of Storage.onLogAdvance, shared by both backends: they are called
 * synchronously, one that throws does not stop the others and its error goes to `onError`.
 */
export class LogAdvanceListeners {
  private readonly listeners = new Set<(serial: number) => void>();

  constructor(private readonly onError: (err: unknown) => void) {}

  get size(): number {
    return this.listeners.size;
  }

  add(listener: (serial: number) => void): () => void {
    // A wrapper per subscription, so the same function added twice is called twice and removed once.
    const entry = (serial: number): void => listener(serial);
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  emit(serial: number): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(serial);
      } catch (err) {
        this.onError(err);
      }
    }
  }
}
