/**
 * The split watch's confirmation, with the real node state and the decision, a fake round trip
 * and advert counter: what a peer's status says is checked against its broker answering now.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import test, { type ExecutionContext } from 'ava';
import { pino, type Logger } from 'pino';
import { SplitWatch } from '../../src/health/split-watch.js';
import { initialFacts, NodeState } from '../../src/node-state.js';
import type { NodeStatus } from '../../src/peer/status.js';
import { waitFor } from '../../lab/wait.js';
import { example } from '../helpers/config.js';

const quiet = pino({ level: 'silent' });

/** A logger that keeps its messages. */
function kept(): { log: Logger; messages: string[] } {
  const messages: string[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void messages.push((JSON.parse(line) as { msg: string }).msg) });
  return { log, messages };
}

/**
 * The second node took the VIP from the first, whose broker hung: this node is MASTER at a
 * standing priority well below the first's, whose last status (from before the hang) still says
 * MASTER at 254. The first's broker answers a round trip once `answer` is set.
 */
async function hungWinner(t: ExecutionContext) {
  const { config } = example('two-node');
  const [first, second] = config.nodes as [(typeof config.nodes)[0], (typeof config.nodes)[0]];
  const clock = { now: 1_000_000 };
  const broker = { answers: false };
  const asked: number[] = [];
  const state = new NodeState(quiet, initialFacts(new Date(0)));
  const { log, messages } = kept();
  state.update({ role: 'MASTER', driver: 'alive', weight: { value: 0, reasons: [], priority: 1 } });
  const stale: NodeStatus = { node: first.id, name: first.name, online: true, role: 'MASTER', driver: 'alive', priority: 254, health: 'well', run: 1, connection: 1, seq: 5 };
  state.update({ peers: { [first.id]: stale } });
  const watch = new SplitWatch({
    config,
    self: second,
    state,
    log,
    isConnected: () => true,
    reaches: async () => {
      asked.push(clock.now);
      return broker.answers;
    },
    counter: { install: async () => undefined, read: async () => ({}), remove: async () => undefined },
    now: () => clock.now,
  });
  await watch.start();
  t.teardown(() => watch.stop());
  /** Its newer statuses, held back by the hang, arrive: BACKUP and sick. */
  const resumed = () => state.update({ peers: { [first.id]: { ...stale, role: 'BACKUP', priority: 1, health: 'sick', seq: 9 } } });
  return { clock, broker, asked, state, messages, resumed };
}

test('a winner whose broker did not answer is confirmed afresh once it answers: its status from before a hang does not make this node step down', async (t) => {
  const { clock, broker, asked, state, messages, resumed } = await hungWinner(t);
  // Past the confirmation: the first node's broker is asked, and does not answer.
  clock.now += 60_000;
  await waitFor('the round trip to the first node', () => asked.length > 0, { timeoutMs: 10_000 });
  // It resumes: the first look after it answers finds the status from before its hang still held,
  // and starts the confirmation again rather than stepping down on it.
  broker.answers = true;
  const asks = asked.length;
  clock.now += 100;
  // The watch looks every advert (1 s here) while a split is being confirmed: give it two looks.
  await sleep(2_500);
  t.is(state.current.split, undefined, `no step-down on a status from before the hang within the new confirmation (${messages.join('; ')})`);
  t.is(asked.length, asks, 'not asked again before the new confirmation is complete');
  // Its newer status arrives meanwhile: BACKUP now, and no split is left to decide.
  resumed();
  clock.now += 60_000;
  t.is(state.current.split, undefined);
});

test('a winner whose broker answers a round trip that began while it was hung is confirmed afresh from the answer: the statuses it held back come after it', async (t) => {
  const { clock, broker, asked, state, messages, resumed } = await hungWinner(t);
  clock.now += 60_000;
  await waitFor('the round trip to the first node', () => asked.length > 0, { timeoutMs: 10_000 });
  // The hang goes on past a whole new confirmation; then the broker resumes, and the round trip
  // asked once the confirmation was complete again is answered (the lab's repair: SIGCONT).
  clock.now += 60_000;
  broker.answers = true;
  await waitFor('a round trip answered', () => asked.length > 1, { timeoutMs: 10_000 });
  await sleep(300);
  t.is(state.current.split, undefined, `no step-down on the answer alone (${messages.join('; ')})`);
  // Its held-back statuses arrive right after: BACKUP and sick. Nothing to decide.
  resumed();
  clock.now += 60_000;
  await sleep(1_500);
  t.is(state.current.split, undefined);
});
