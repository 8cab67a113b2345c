/**
 * Runs an action at most once per `gapMs`, however often it is asked for, and never loses the
 * last ask: asked while idle and the last run began `gapMs` ago or more, it runs at once; asked
 * sooner, it runs once when the gap is over; asked while it runs, it runs once more after (what
 * was asked for during a run may have come too late for it). A burst of N asks over T ms thus
 * costs about T / gapMs + 2 runs. The clock is injected (tests drive it by hand).
 */
export interface Clock {
  now(): number;
  setTimeout(run: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const REAL_CLOCK: Clock = {
  now: () => Date.now(),
  setTimeout: (run, ms) => setTimeout(run, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export class Coalescer {
  private readonly gapMs: number;
  private readonly action: () => Promise<void>;
  private readonly clock: Clock;
  private lastRunAt: number | undefined;
  private timer: unknown;
  private running: Promise<void> | undefined;
  /** Asked for while running. */
  private again = false;
  private stopped = false;
  /** Asks, and runs begun. */
  readonly counts = { asked: 0, runs: 0 };

  /** `action` must not reject (it reports its own failures). */
  constructor(gapMs: number, action: () => Promise<void>, clock: Clock = REAL_CLOCK) {
    this.gapMs = gapMs;
    this.action = action;
    this.clock = clock;
  }

  request(): void {
    if (this.stopped) return;
    this.counts.asked++;
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer !== undefined) return;
    const waitMs = this.lastRunAt === undefined ? 0 : this.lastRunAt + this.gapMs - this.clock.now();
    if (waitMs <= 0) this.run();
    else {
      this.timer = this.clock.setTimeout(() => {
        this.timer = undefined;
        this.run();
      }, waitMs);
    }
  }

  /** No run after this; resolves once a run under way is done. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private run(): void {
    if (this.stopped) return;
    this.lastRunAt = this.clock.now();
    this.counts.runs++;
    this.again = false;
    this.running = this.action().finally(() => {
      this.running = undefined;
      if (!this.again) return;
      this.again = false;
      this.schedule();
    });
  }
}
