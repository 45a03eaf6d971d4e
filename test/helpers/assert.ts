// Assertions uvu lacks.
import * as assert from "uvu/assert";

/** Awaits `fn()` and asserts it rejects with an error accepted by `check`. */
export async function rejects(fn: () => Promise<unknown>, check: (e: unknown) => boolean, msg?: string): Promise<void> {
  try {
    await fn();
  } catch (e) {
    assert.ok(check(e), msg ?? `unexpected rejection: ${(e as Error)?.name}: ${(e as Error)?.message}`);
    return;
  }
  assert.unreachable(msg ?? "expected a rejection");
}
