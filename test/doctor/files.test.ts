import test from 'ava';
import { difference, renderedCheck, secretProblem, secretsCheck, type Placed } from '../../src/doctor/files.js';

const file = { name: 'mosquitto.conf', target: '/etc/mosquitto/mosquitto.conf', mode: 0o640, content: 'listener 1883\n' };
const placed = (content: string | undefined, mode = 0o640, within = false): Placed => ({
  file,
  path: file.target,
  installed: content === undefined ? undefined : { content: Buffer.from(content), mode, uid: 0 },
  within,
});
const render = { command: 'mosquitto-failover render --config c.yaml --node mqtt-a', out: '/tmp/r' };

test('a file as rendered, byte for byte and mode for mode, is no difference', (t) => {
  t.is(difference(placed('listener 1883\n')), undefined);
});

test('missing, other bytes (even one newline), another mode: each said', (t) => {
  t.is(difference(placed(undefined)), 'missing');
  t.is(difference(placed('listener 1883')), 'differs from what cluster.yaml renders');
  t.is(difference(placed('listener 1883\n', 0o644)), 'mode 0644, render gives 0640');
  t.is(difference(placed('listener 1884\n', 0o600)), 'differs from what cluster.yaml renders, mode 0600, render gives 0640');
});

test('a file that may hold more (the ACL file) needs the rendered text in it, not only it', (t) => {
  t.is(difference(placed('# mine\nlistener 1883\nuser lab\n', 0o640, true)), undefined);
  t.is(difference(placed('listener 1884\n', 0o640, true)), 'does not hold what cluster.yaml renders as mosquitto.conf');
});

test('the check lists each differing file and the render and install commands that fix them', (t) => {
  const other = { ...placed(undefined), file: { ...file, name: 'keepalived.conf', target: '/etc/keepalived/keepalived.conf', mode: 0o600 }, path: '/etc/keepalived/keepalived.conf' };
  const result = renderedCheck([placed('listener 1883\n'), placed('edited\n'), other], render);
  t.is(result.ok, false);
  t.is(result.detail, '/etc/mosquitto/mosquitto.conf: differs from what cluster.yaml renders; /etc/keepalived/keepalived.conf: missing');
  t.is(
    result.fix,
    'mosquitto-failover render --config c.yaml --node mqtt-a --out /tmp/r && install -m 0640 /tmp/r/mosquitto.conf /etc/mosquitto/mosquitto.conf && install -m 0600 /tmp/r/keepalived.conf /etc/keepalived/keepalived.conf',
  );
  t.deepEqual(renderedCheck([placed('listener 1883\n')], render), { name: 'rendered files', ok: true, detail: '1 file as cluster.yaml renders it' });
});

test('a secret may have less access than its mode, never more; a root secret must be root-owned', (t) => {
  const env = { what: 'env file', path: '/etc/mosquitto-failover/.env', mode: 0o600, root: true };
  t.is(secretProblem(env, { mode: 0o600, uid: 0 }), undefined);
  t.is(secretProblem(env, { mode: 0o400, uid: 0 }), undefined);
  t.is(secretProblem(env, { mode: 0o640, uid: 0 }), 'env file /etc/mosquitto-failover/.env: mode 0640 gives more than 0600');
  t.is(secretProblem(env, { mode: 0o600, uid: 1000 }), 'env file /etc/mosquitto-failover/.env: owned by uid 1000, not root');
  t.is(secretProblem(env, undefined), 'env file /etc/mosquitto-failover/.env: missing');
  t.is(secretProblem({ ...env, root: false }, { mode: 0o600, uid: 1000 }), undefined);
});

test('the secrets check fixes only what is wrong: chown only when not root', (t) => {
  const env = { what: 'env file', path: '/e/.env', mode: 0o600, root: true };
  const conf = { what: 'keepalived.conf', path: '/k.conf', mode: 0o600 };
  t.deepEqual(secretsCheck([{ secret: env, found: { mode: 0o600, uid: 0 } }, { secret: conf, found: { mode: 0o600, uid: 0 } }]), { name: 'secret file modes', ok: true, detail: 'env file 0600, keepalived.conf 0600' });
  const bad = secretsCheck([{ secret: env, found: { mode: 0o644, uid: 5 } }, { secret: conf, found: { mode: 0o644, uid: 0 } }]);
  t.is(bad.ok, false);
  t.is(bad.fix, 'chown root /e/.env && chmod 0600 /e/.env && chmod 0600 /k.conf');
});
