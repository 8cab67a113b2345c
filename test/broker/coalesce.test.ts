/** The coalescer with a clock driven by hand: at most one run per gap, and never one ask lost. */
import test from 'ava';
import { Coalescer, type Clock } from '../../src/broker/coalesce.js';

/** A clock whose time moves only when told; timers fire as it passes them. */
class ManualClock implements Clock {
  time = 1_000;
  private timers: { at: number; run: () => void; id: number }[] = [];
  private nextId = 0;

  now(): number {
    return this.time;
  }

  setTimeout(run: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.push({ at: this.time + ms, run, id });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((timer) => timer.id !== handle);
  }

  get pending(): number {
    return this.timers.length;
  }

  /** Moves the time on by `ms`, firing each timer due on the way, in order. */
  async advance(ms: number): Promise<void> {
    const until = this.time + ms;
    for (;;) {
      const due = this.timers.filter((timer) => timer.at <= until).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((timer) => timer !== due);
      this.time = due.at;
      due.run();
      await settle();
    }
    this.time = until;
  }
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function coalescer(gapMs = 200) {
  const clock = new ManualClock();
  const runs: number[] = [];
  const coalesced = new Coalescer(gapMs, async () => {
    runs.push(clock.now());
  }, clock);
  return { clock, runs, coalesced };
}

test('the first ask runs at once', async (t) => {
  const { clock, runs, coalesced } = coalescer();
  coalesced.request();
  await settle();
  t.deepEqual(runs, [clock.time]);
  t.is(clock.pending, 0);
});

test('a burst runs once at once and once when the gap is over, not once per ask', async (t) => {
  const { clock, runs, coalesced } = coalescer();
  for (let ask = 0; ask < 100; ask++) {
    coalesced.request();
    await clock.advance(1);
  }
  await clock.advance(1_000);
  t.deepEqual(runs, [1_000, 1_200]);
  t.deepEqual(coalesced.counts, { asked: 100, runs: 2 });
});

test('asks spread over a long time run once per gap, the last one included', async (t) => {
  const { clock, runs, coalesced } = coalescer();
  // One ask every 50 ms for a second: 1000 to 1950.
  for (let ask = 0; ask < 20; ask++) {
    coalesced.request();
    await clock.advance(50);
  }
  await clock.advance(1_000);
  t.deepEqual(runs, [1_000, 1_200, 1_400, 1_600, 1_800, 2_000]);
  for (const [index, at] of runs.entries()) if (index > 0) t.true(at - runs[index - 1]! >= 200);
});

test('an ask after a quiet gap runs at once again', async (t) => {
  const { clock, runs, coalesced } = coalescer();
  coalesced.request();
  await clock.advance(500);
  coalesced.request();
  await settle();
  t.deepEqual(runs, [1_000, 1_500]);
});

test('an ask while a run is under way runs once more after it, when the gap is over', async (t) => {
  const clock = new ManualClock();
  const runs: number[] = [];
  let finish: (() => void) | undefined;
  const coalesced = new Coalescer(200, async () => {
    runs.push(clock.now());
    await new Promise<void>((resolve) => (finish = resolve));
  }, clock);
  coalesced.request();
  await settle();
  coalesced.request();
  coalesced.request();
  await clock.advance(300);
  t.deepEqual(runs, [1_000], 'not a second run while the first is under way');
  finish!();
  await settle();
  await settle();
  t.deepEqual(runs, [1_000, 1_300], 'the gap was over when the first ended: at once');
  finish!();
  await settle();
  await clock.advance(1_000);
  t.deepEqual(runs, [1_000, 1_300], 'and no third');
});

test('stop clears a pending run and nothing runs after it', async (t) => {
  const { clock, runs, coalesced } = coalescer();
  coalesced.request();
  await settle();
  coalesced.request();
  t.is(clock.pending, 1);
  await coalesced.stop();
  t.is(clock.pending, 0);
  coalesced.request();
  await clock.advance(1_000);
  t.deepEqual(runs, [1_000]);
});
