import test from 'ava';
import { parse } from 'dotenv';
import { assignmentLines, truncatedLines } from '../../src/config/dotenv-lines.js';

const cut = (text: string, skip?: ReadonlySet<string>) => truncatedLines(text, parse(text), '.env', skip).map((problem) => `${problem.path}:${problem.line}`);

test('a # glued to an unquoted value is a cut; after white space it is a comment; quoted it is kept', (t) => {
  const text = [
    'MQFO_A=bridge#secret',
    'MQFO_B=plain # a comment',
    'MQFO_C="quoted#kept"',
    "MQFO_D='single#kept'",
    '# MQFO_E=commented#out',
    'export MQFO_F=#all-of-it',
    'OTHER=not#ours',
    'MQFO_G = spaced#cut',
  ].join('\n');
  t.deepEqual(cut(text), ['env.MQFO_A:1', 'env.MQFO_F:6', 'env.MQFO_G:8']);
  t.is(parse(text)['MQFO_C'], 'quoted#kept');
});

test('a variable the process environment sets is not read from the file, so its line is no problem', (t) => {
  t.deepEqual(cut('MQFO_A=bridge#secret\n', new Set(['MQFO_A'])), []);
});

test('a later line of the same name wins, in dotenv and here', (t) => {
  t.deepEqual(cut('MQFO_A=bridge#secret\nMQFO_A=whole\n'), []);
  t.deepEqual(assignmentLines('MQFO_A=1\r\nMQFO_B=2\r\nMQFO_A=3\r\n'), { MQFO_A: 3, MQFO_B: 2 });
});
