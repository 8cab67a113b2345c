import { Readable, Writable } from 'node:stream';
import test from 'ava';
import { readPassword } from '../src/prompt.js';

const sink = () => new Writable({ write: (_chunk, _encoding, done) => done() });

test('from a pipe, the password is the first line of stdin', async (t) => {
  t.is(await readPassword({ input: Readable.from(['s3cret pass\nsecond line\n']), output: sink() }), 's3cret pass');
  t.is(await readPassword({ input: Readable.from(['no newline at the end']), output: sink() }), 'no newline at the end');
  t.is(await readPassword({ input: Readable.from(['crlf\r\n']), output: sink() }), 'crlf');
});

test('an empty first line is refused', async (t) => {
  await t.throwsAsync(readPassword({ input: Readable.from(['\nlater\n']), output: sink() }), { message: /empty password/ });
  await t.throwsAsync(readPassword({ input: Readable.from([]), output: sink() }), { message: /empty password/ });
});
