import test from 'ava';
import { contentProblems, keepServiceUsers, missingServiceUsers } from '../../src/sync/content.js';
import { leaderText, parseLeader } from '../../src/sync/content/leader.js';
import { syncedFiles } from '../../src/sync/synced.js';
import { example } from '../helpers/config.js';

const users = { bridge: 'mqfo-bridge', daemon: 'mqfo-daemon' };

test('a preference: promote, demote or none, as one line of JSON that reads back the same', (t) => {
  for (const preference of [{ promote: 'node2' }, { demote: 'mqtt-a' }, {}]) {
    const text = leaderText(preference);
    t.deepEqual(parseLeader(text), { preference });
    t.deepEqual(contentProblems('leader', text), []);
    t.true(text.endsWith('}\n'));
  }
});

test('a preference that is not one: every problem, named', (t) => {
  t.regex(contentProblems('leader', '{"promote": ')[0]!, /^is not valid JSON: /);
  t.deepEqual(contentProblems('leader', '["node2"]'), ['must be a JSON object, not ["node2"]']);
  t.deepEqual(contentProblems('leader', '{"promote":"node2","demote":"node1"}'), ['promote and demote: at most one of them']);
  t.deepEqual(contentProblems('leader', '{"promote":"Node 2","leader":1}'), ['leader: unknown key (promote or demote)', 'promote: "Node 2" is not a node name']);
  t.deepEqual(contentProblems('leader', '{"demote":7}'), ['demote: 7 is not a node name']);
  t.regex(contentProblems('leader', '')[0]!, /^is not valid JSON/);
});

test('the preference holds no service users: none missing, and the merge gives it back as it came', (t) => {
  const text = leaderText({ promote: 'node2' });
  t.deepEqual(missingServiceUsers('leader', text, users), []);
  t.deepEqual(keepServiceUsers('leader', text, leaderText({}), users), { content: text, kept: [] });
});

test('the preference is always synced, from the state directory, and the broker is not touched for it', (t) => {
  const loaded = example('two-node');
  const files = syncedFiles(loaded.config);
  t.deepEqual(files.at(-1), { kind: 'leader', path: `${loaded.config.daemon.state_dir}/leader.json`, apply: 'none' });
  const none = { ...loaded.config, sync: { ...loaded.config.sync, password_file: false, acl_file: false } };
  t.deepEqual(syncedFiles(none).map((file) => file.kind), ['leader']);
});
