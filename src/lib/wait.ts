/**
 * Waits for `promise`, but at most `ms`: resolves when it settles or when the time is up,
 * whichever comes first. The timer does not hold the process open and is cleared either way.
 * Shutdown paths use it to give peers a grace period without ever hanging on one.
 */
export async function waitAtMost(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      promise,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, ms);
        timer.unref();
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
