import test from 'ava';
import { answer, MAX_COMMANDS, MAX_REQUEST_BYTES, parseRequest, refusal, responseTopicOf } from '../../src/control/api.js';
import { COMMAND_TTL_MS, commandToRun } from '../../src/control/cluster-command.js';

const OWN = 'mosquitto-failover/home/control/ops/response';

test('a request: commands, and for v3.1.1 clients a response topic and correlation data', (t) => {
  const parsed = parseRequest(Buffer.from('{"commands":[{"command":"getNode","node":"node2"}],"responseTopic":"x","correlationData":"c"}'));
  t.deepEqual(parsed, { ok: true, request: { commands: [{ command: 'getNode', node: 'node2' }], responseTopic: 'x', correlationData: 'c' } });
});

test('what is not a request says why, without echoing its bytes', (t) => {
  const cases: [string | Buffer, RegExp][] = [
    ['', /not valid JSON/],
    ['{"commands":', /not valid JSON/],
    ['null', /^the request: /],
    ['{"commands":[]}', /^commands: /],
    ['{"commands":[{"command":""}]}', /^commands\.0\.command: /],
    [`{"commands":[${Array(MAX_COMMANDS + 1).fill('{"command":"getNode"}').join(',')}]}`, /^commands: .*at most 16 commands/],
    ['{"commands":[{"command":"getCluster"}],"secret":"hunter2"}', /^the request: /],
    [Buffer.alloc(MAX_REQUEST_BYTES + 1, 0x20), /65537 bytes; at most 65536/],
  ];
  for (const [payload, reason] of cases) {
    const parsed = parseRequest(Buffer.from(payload));
    t.false(parsed.ok);
    if (!parsed.ok) {
      t.regex(parsed.error, reason);
      t.false(parsed.error.includes('hunter2'));
    }
  }
});

test('the answer goes only to the caller\'s own response topic or below it', (t) => {
  const request = { commands: [{ command: 'getCluster' }], responseTopic: `${OWN}/cli` };
  t.is(responseTopicOf(OWN, undefined, OWN), OWN);
  t.is(responseTopicOf(`${OWN}/a/b`, undefined, OWN), `${OWN}/a/b`);
  t.is(responseTopicOf(undefined, request, OWN), `${OWN}/cli`, 'v3.1.1: from the request');
  t.is(responseTopicOf(`${OWN}/v5`, request, OWN), `${OWN}/v5`, 'v5 wins');
  t.is(responseTopicOf(undefined, undefined, OWN), undefined);
  for (const topic of ['mosquitto-failover/home/node/1/status', `${OWN}x`, `${OWN}/+`, `${OWN}/#`, 'mosquitto-failover/home/control/eve/response', `${OWN}/a\0b`]) {
    t.is(responseTopicOf(topic, undefined, OWN), undefined, topic);
  }
});

test('each command answered in order; unknown ones and failing handlers with an error, the rest still run', async (t) => {
  const response = await answer(
    { commands: [{ command: 'one' }, { command: 'nope' }, { command: 'fails' }, { command: 'toString' }, { command: 'one' }], correlationData: 'k' },
    {
      one: () => 1,
      fails: () => {
        throw new Error('broken');
      },
    },
  );
  t.deepEqual(response, {
    responses: [
      { command: 'one', data: 1 },
      { command: 'nope', error: 'unknown command; known: one, fails' },
      { command: 'fails', error: 'broken' },
      { command: 'toString', error: 'unknown command; known: one, fails' },
      { command: 'one', data: 1 },
    ],
    correlationData: 'k',
  });
  t.deepEqual(refusal('bad'), { responses: [{ command: 'Unknown', error: 'bad' }] });
});

test('a peer\'s command runs only from its own broker, well formed and fresh', (t) => {
  const now = 1_000_000;
  t.like(commandToRun({ command: 'syncNow', at: now - 1_000 }, 2, 2, now), { ok: true });
  t.like(commandToRun({ command: 'syncNow', at: now }, 1, 2, now), { ok: false, reason: "node 1's command read on node 2's broker" });
  t.like(commandToRun({ command: 'reboot', at: now }, 2, 2, now), { ok: false, reason: 'not a command' });
  t.like(commandToRun({ command: 'syncNow', at: now - COMMAND_TTL_MS - 1 }, 2, 2, now), { ok: false });
  t.like(commandToRun({ command: 'syncNow', at: now + COMMAND_TTL_MS + 1 }, 2, 2, now), { ok: false });
});
