import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { MqfoError, UsageError } from '../../src/errors.js';
import type { RenderedFile } from '../../src/render/render.js';
import { writeOutputs, type Output } from '../../src/render/write.js';
import { scratchDir } from '../helpers/scratch.js';

const file = (name: string, content: string, mode = 0o644): RenderedFile => ({ name, content, mode, target: `/etc/${name}` });
const nodes = (out: string): Output[] => [
  { dir: join(out, 'a'), files: [file('one.conf', 'a1'), file('two.conf', 'a2', 0o600)] },
  { dir: join(out, 'b'), files: [file('one.conf', 'b1'), file('two.conf', 'b2', 0o600)] },
];

test('every node is written with its modes, and no staging directory is left', async (t) => {
  const dir = scratchDir('write');
  const out = join(dir, 'out');
  const written = await writeOutputs(out, nodes(out));
  t.deepEqual(written, [join(out, 'a/one.conf'), join(out, 'a/two.conf'), join(out, 'b/one.conf'), join(out, 'b/two.conf')]);
  t.is(readFileSync(join(out, 'b/two.conf'), 'utf8'), 'b2');
  t.is(statSync(join(out, 'a/two.conf')).mode & 0o777, 0o600);
  // The usual mode of a new directory, not mkdtemp's 0700.
  t.is(statSync(join(out, 'a')).mode & 0o777, 0o777 & ~process.umask());
  t.deepEqual(readdirSync(dir), ['out']);
});

test('a write that fails on the second node leaves no file of any node, and no staging directory', async (t) => {
  const dir = scratchDir('write');
  const out = join(dir, 'out');
  let calls = 0;
  const error = await t.throwsAsync(
    writeOutputs(out, nodes(out), async (path, content) => {
      if (++calls === 3) throw new Error('ENOSPC: no space left on device');
      writeFileSync(path, content);
    }),
  );
  t.true(error instanceof MqfoError && error.code === 'EWRITE');
  t.regex(error?.message ?? '', /nothing was put into .*out.*ENOSPC/);
  t.deepEqual(readdirSync(dir), []);
});

test('an existing directory keeps its other files; ours are replaced', async (t) => {
  const out = join(scratchDir('write'), 'out');
  mkdirSync(join(out, 'a'), { recursive: true });
  writeFileSync(join(out, 'a', 'mine.txt'), 'keep');
  writeFileSync(join(out, 'a', 'one.conf'), 'old');
  await writeOutputs(out, nodes(out));
  t.deepEqual(readdirSync(join(out, 'a')).sort(), ['mine.txt', 'one.conf', 'two.conf']);
  t.is(readFileSync(join(out, 'a', 'one.conf'), 'utf8'), 'a1');
});

test('an output that is a file, or a file place that is a directory, is refused before anything is written', async (t) => {
  const dir = scratchDir('write');
  const out = join(dir, 'out');
  writeFileSync(out, 'a file');
  const error = await t.throwsAsync(writeOutputs(out, nodes(out)));
  t.true(error instanceof UsageError);
  t.regex(error?.message ?? '', /is a file, not a directory/);
  t.is(readFileSync(out, 'utf8'), 'a file');

  const other = join(dir, 'other');
  mkdirSync(join(other, 'b', 'two.conf'), { recursive: true });
  await t.throwsAsync(writeOutputs(other, nodes(other)), { instanceOf: UsageError, message: /two\.conf is a directory/ });
  t.false(existsSync(join(other, 'a')));
  t.deepEqual(readdirSync(dir).sort(), ['other', 'out']);
});
