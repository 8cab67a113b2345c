/**
 * The Prometheus endpoint, scraped in the lab as Prometheus would (an HTTP GET from another host
 * of the private network, here the client's namespace): every metric the README lists, with the
 * values the node state has, before and after a takeover.
 */
import test from 'ava';
import { Lab } from '../../lab/lab.js';
import type { LabNode } from '../../lab/node.js';
import { waitFor } from '../../lab/wait.js';
import { missingRequirements } from '../helpers/real.js';

const unavailable = missingRequirements();
const lab = unavailable ? test.serial.skip : test.serial;
if (unavailable) console.log(`metrics lab tests skipped: this machine ${unavailable}`);

const FETCH = 'const r = await fetch(process.argv[1]); process.stdout.write(`${r.status} ${r.headers.get("content-type")}\\n${await r.text()}`);';

/** A GET from the client's namespace: the status line and the body. */
async function get(current: Lab, url: string): Promise<{ status: number; type: string; body: string }> {
  const { stdout } = await current.client.exec([process.execPath, '--input-type=module', '-e', FETCH, url], { timeout: 10_000 });
  const [head = '', ...rest] = stdout.split('\n');
  const space = head.indexOf(' ');
  return { status: Number(head.slice(0, space)), type: head.slice(space + 1), body: rest.join('\n') };
}

/** The samples of a scrape, by name with its labels as written (`name{a="b"}`). */
async function scrape(current: Lab, node: LabNode): Promise<Map<string, number>> {
  const { status, body } = await get(current, `http://${node.address}:${node.config.metrics.port}/metrics`);
  if (status !== 200) throw new Error(`${node.name}'s /metrics answered ${status}`);
  const samples = new Map<string, number>();
  for (const line of body.split('\n')) {
    const match = /^(mosquitto_failover_\S+) (\S+)$/.exec(line);
    if (match) samples.set(match[1]!, Number(match[2]));
  }
  return samples;
}

lab('metrics: role, VIP, health, weight, peers, bridges, sync and takeovers, scraped from the network before and after a takeover', async (t) => {
  const current = await Lab.start({ daemon: true, sessions: { drain_interval: 1 }, configure: (document) => (document.metrics = { enabled: true }) });
  t.teardown(() => current.stop());
  const [one, two] = [current.node(1), current.node(2)];
  await current.waitForVipOn(1);
  await one.waitForRole('MASTER', 0);
  await current.waitForBridges();

  // Once the first probes and the bridge's state are in.
  const settled = async (node: LabNode, expect: Record<string, number>) =>
    waitFor(
      `${node.name}'s metrics to say ${JSON.stringify(expect)}`,
      async () => {
        const samples = await scrape(current, node);
        return Object.entries(expect).every(([name, value]) => samples.get(name) === value) && samples;
      },
      { timeoutMs: 15_000, intervalMs: 250 },
    );
  // node2's bridge (to node1, the hub): node2 reports it, node1 has none of its own.
  const bridge = `mosquitto_failover_bridge_connected{bridge="mqfo-${current.loaded.config.cluster}-node2"}`;
  const first = await settled(one, {
    'mosquitto_failover_role{role="MASTER"}': 1,
    'mosquitto_failover_role{role="BACKUP"}': 0,
    mosquitto_failover_vip_held: 1,
    mosquitto_failover_broker_healthy: 1,
    mosquitto_failover_weight: 0,
    'mosquitto_failover_peer_channel_up{peer="node1"}': 1,
    'mosquitto_failover_peer_channel_up{peer="node2"}': 1,
  });
  t.false([...first.keys()].some((name) => name.startsWith('mosquitto_failover_bridge_connected')), 'no bridge on the hub');
  // node2 reports its bridge up. node1's takeover restarted node1's broker, and the bridge
  // reconnects after it (restart_timeout): wait for it too.
  const backup = await settled(two, { 'mosquitto_failover_role{role="BACKUP"}': 1, mosquitto_failover_vip_held: 0, mosquitto_failover_broker_healthy: 1, [bridge]: 1 });
  t.true((first.get('mosquitto_failover_takeovers_total') ?? 0) >= 1, 'node1 counted its takeover');
  t.true((first.get('mosquitto_failover_last_takeover_seconds') ?? 0) > 0, 'and how long it took');
  t.true((first.get('mosquitto_failover_takeover_step_seconds_count{step="accepting"}') ?? 0) >= 1, 'and its steps');
  // At the first start the nodes' password files differ: one node's wins, the other installs it.
  const installs = (samples: Map<string, number>) => samples.get('mosquitto_failover_sync_installs_total{kind="passwd"}') ?? 0;
  t.true(installs(first) + installs(backup) >= 1, 'a peer\'s password file was installed and counted');

  // A persistent subscriber through the VIP: node1's broker is asked to save (save_on_session_change,
  // on by default) and node2 shadows the session; a message for it while it is connected to node1
  // is given up by node2's shadow, which knows it from node1's presence reports.
  const { config } = current.loaded;
  const login = ['-h', config.vip.address, '-p', String(config.broker.client_port), '-u', current.clientUser.user, '-P', current.clientUser.password];
  const savesBefore = (await scrape(current, one)).get('mosquitto_failover_broker_saves_total') ?? 0;
  t.is(first.get('mosquitto_failover_shadow_sessions'), 0, 'the master shadows nothing');
  const subscriber = current.client.spawn(['mosquitto_sub', ...login, '-c', '-i', 'lab-metrics-sub', '-q', '1', '-t', 'lab/metrics/#', '-W', '60']);
  t.teardown(() => subscriber.kill('SIGTERM'));
  await settled(two, { mosquitto_failover_shadow_sessions: 1 });
  await waitFor('node1 to count the save of the new session', async () => ((await scrape(current, one)).get('mosquitto_failover_broker_saves_total') ?? 0) > savesBefore, { timeoutMs: 15_000, intervalMs: 250 });
  const publish = async (message: string) => (await current.client.exec(['mosquitto_pub', ...login, '-q', '1', '-t', 'lab/metrics/a', '-m', message], { timeout: 10_000, reject: false })).exitCode === 0;
  // Published until node2's shadow has given up one (a drain needs the client on the same connection at two passes).
  const drained = await waitFor('node2\'s shadow to give up a message its client had from node1', async () => {
    const samples = await scrape(current, two);
    if ((samples.get('mosquitto_failover_shadow_drained_messages_total') ?? 0) > 0) return samples;
    await publish('x');
    return undefined;
  }, { timeoutMs: 20_000, intervalMs: 500 });
  t.true(drained.has('mosquitto_failover_shadow_kept_messages_total'));
  subscriber.kill('SIGTERM');
  await subscriber;

  // A takeover: node1's keepalived killed, node2 takes the VIP.
  const before = backup.get('mosquitto_failover_takeovers_total') ?? 0;
  one.kill('keepalived');
  await current.waitForVipOn(2);
  await two.waitForRole('MASTER', Date.now() - 60_000);
  const after = await settled(two, { 'mosquitto_failover_role{role="MASTER"}': 1, mosquitto_failover_vip_held: 1, mosquitto_failover_takeovers_total: before + 1 });
  t.true((after.get('mosquitto_failover_last_takeover_seconds') ?? 0) > 0);
  t.true((after.get('mosquitto_failover_takeover_step_seconds_count{step="accepting"}') ?? 0) >= 1, 'node2\'s takeover steps are in its histogram');

  const other = await get(current, `http://${one.address}:${one.config.metrics.port}/`);
  t.is(other.status, 404, 'only /metrics is served');
  const metrics = await get(current, `http://${one.address}:${one.config.metrics.port}/metrics`);
  t.regex(metrics.type, /^text\/plain; version=0\.0\.4/);
});
