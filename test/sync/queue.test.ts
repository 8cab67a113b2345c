import test from 'ava';
import { StepQueue } from '../../src/sync/queue.js';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

test('steps run one at a time, in order; a failing one is reported and the next runs', async (t) => {
  const errors: unknown[] = [];
  const queue = new StepQueue((error) => errors.push(error));
  const log: string[] = [];
  const step = (name: string) => async () => {
    log.push(`${name} start`);
    await tick();
    log.push(`${name} end`);
  };
  queue.add(step('a'));
  queue.add(() => Promise.reject(new Error('b failed')));
  queue.add(step('c'));
  await queue.close();
  t.deepEqual(log, ['a start', 'a end', 'c start', 'c end']);
  t.is((errors[0] as Error).message, 'b failed');
});

test('a keyed step waiting to start is not added twice; once started, it can be again', async (t) => {
  const queue = new StepQueue(() => undefined);
  const runs: string[] = [];
  let release = (): void => undefined;
  queue.add(() => new Promise<void>((resolve) => (release = resolve)));
  for (let index = 0; index < 3; index++) queue.addOnce('passwd', async () => void runs.push('passwd'));
  queue.addOnce('acl', async () => void runs.push('acl'));
  await tick();
  release();
  await tick();
  queue.addOnce('passwd', async () => void runs.push('passwd again'));
  await queue.close();
  t.deepEqual(runs, ['passwd', 'acl', 'passwd again']);
});

test('a closed queue takes no more steps', async (t) => {
  const queue = new StepQueue(() => undefined);
  await queue.close();
  let ran = false;
  queue.add(async () => void (ran = true));
  queue.addOnce('x', async () => void (ran = true));
  await queue.close();
  t.false(ran);
});
