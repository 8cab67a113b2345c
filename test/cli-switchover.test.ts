import { join } from 'node:path';
import test from 'ava';
import { execa } from 'execa';
import { cliArgv } from '../lab/entry.js';
import { ROOT } from './helpers/config.js';

// Every error here comes before any connection is made: the example's nodes do not exist.
const cli = (...args: string[]) => {
  const [node, ...argv] = cliArgv([...args, '--config', join(ROOT, 'examples/two-node.yaml'), '--env', join(ROOT, 'examples/cluster.env'), '--node', 'mqtt-a']);
  return execa(node!, argv, { reject: false, cwd: ROOT, env: { MQFO_NODE: '' }, timeout: 60_000 });
};

test('promote: an unknown node is a usage error (exit 2) that lists the known ones', async (t) => {
  const result = await cli('promote', 'mqtt-z');
  t.is(result.exitCode, 2);
  t.regex(result.stderr, /^error: "mqtt-z" is not a node of cluster home: the nodes are mqtt-a \(id 1\), mqtt-b \(id 2\)$/m);
  t.is(result.stdout, '');
});

test('demote: an unknown node too', async (t) => {
  const result = await cli('demote', '7');
  t.is(result.exitCode, 2);
  t.regex(result.stderr, /^error: "7" is not a node of cluster home/m);
});

test('promote needs a node or --clear, not both; demote needs a node', async (t) => {
  const none = await cli('promote');
  t.is(none.exitCode, 2);
  t.regex(none.stderr, /^error: promote needs a node \(or promote --clear\)$/m);
  const both = await cli('promote', 'mqtt-b', '--clear');
  t.is(both.exitCode, 2);
  t.regex(both.stderr, /^error: promote --clear takes no node \(mqtt-b\)$/m);
  const demote = await cli('demote');
  t.is(demote.exitCode, 2);
  t.regex(demote.stderr, /missing required argument 'node'/);
});

test('promote: a --timeout that is not a number of seconds is a usage error', async (t) => {
  for (const timeout of ['0', 'soon', '4000']) {
    const result = await cli('promote', 'mqtt-b', '--timeout', timeout);
    t.is(result.exitCode, 2);
    t.regex(result.stderr, new RegExp(`^error: --timeout "${timeout}" is not a number of seconds from 1 to 3600$`, 'm'));
  }
});
