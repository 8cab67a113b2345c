/**
 * The syncer's steps, one at a time and in order: a scan and an install of the same file must
 * never interleave. A step that fails is reported and the next one runs.
 */
export class StepQueue {
  private readonly onError: (error: unknown) => void;
  private tail: Promise<void> = Promise.resolve();
  private readonly waiting = new Set<string>();
  private closed = false;

  constructor(onError: (error: unknown) => void) {
    this.onError = onError;
  }

  /** Runs `step` after every step added before it; nothing once closed. */
  add(step: () => Promise<void>): void {
    if (this.closed) return;
    this.tail = this.tail.then(step).catch(this.onError);
  }

  /** Like add, unless a step with this key is still waiting to start: a burst of changes makes one look. */
  addOnce(key: string, step: () => Promise<void>): void {
    if (this.closed || this.waiting.has(key)) return;
    this.waiting.add(key);
    this.add(() => {
      this.waiting.delete(key);
      return step();
    });
  }

  /** Takes no more steps; resolves when the last one has run. */
  async close(): Promise<void> {
    this.closed = true;
    await this.tail;
  }
}
