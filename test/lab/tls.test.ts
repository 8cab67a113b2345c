/**
 * TLS end to end, in the lab: a two-node cluster with `tls`, a throwaway CA made by the real
 * openssl in the lab's directory (one certificate per node, its lab address as an IP SAN), real
 * mosquitto, the daemon on each node. The admin listeners speak TLS only, so whatever works
 * through them (the bridge, the peer channel, the CLI's status reader) works over TLS. The
 * negative tests make sure that the checks can fail: plain MQTT, a client trusting another CA,
 * and a broker presenting another CA's certificate are all refused. Everything the test makes is
 * under the lab's directory, which lab.stop() removes (also after a failure, and on exit).
 */
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import test, { type ExecutionContext } from 'ava';
import { issueCert, makeCa, type Issued } from '../../lab/certs.js';
import { canLogin, startSyncedLab } from '../../lab/credentials.js';
import type { Lab } from '../../lab/lab.js';
import type { LabNode } from '../../lab/node.js';
import { waitFor } from '../../lab/wait.js';
import { missingRequirements } from '../helpers/real.js';

const unavailable = missingRequirements();
const lab = unavailable ? test.serial.skip : test.serial;
if (unavailable) console.log(`TLS lab tests skipped: this machine ${unavailable}`);

let current: Lab | undefined;

test.before(async () => {
  if (unavailable) return;
  current = await startSyncedLab({ tls: true }, ['passwd']);
});

test.after.always(() => {
  current?.stop();
});

const the = (id: number): LabNode => current!.node(id);

/** mosquitto_pub as the daemon user to `node`'s admin listener, from the client namespace, with `tlsArgs`. */
async function adminPublish(node: LabNode, tlsArgs: readonly string[]) {
  const { config, secrets } = node.placed.loaded;
  return current!.client.exec(
    ['mosquitto_pub', '-h', node.address, '-p', String(config.broker.admin_port), ...tlsArgs, '-u', config.daemon.user, '-P', secrets.daemonPassword, '-t', `mosquitto-failover/${config.cluster}/lab/tls`, '-m', 'x', '-q', '1'],
    { reject: false, timeout: 10_000 },
  );
}

/** Runs `mosquitto-failover ARGS` in `node`'s namespace, as an admin on that node would (LabNode.cli). */
const cli = (node: LabNode, args: string[], input?: string) => node.cli(args, input === undefined ? {} : { input });

/** What a subscriber on `to`'s client listener receives on `topic` after a publish on `from`'s. */
async function crossBridge(from: LabNode, to: LabNode, topic: string, message: string): Promise<string> {
  const { user, password } = current!.clientUser;
  const login = (node: LabNode) => ['-h', node.address, '-p', String(node.config.broker.client_port), '-u', user, '-P', password];
  const sub = current!.client.exec(['mosquitto_sub', ...login(to), '-t', topic, '-C', '1', '-W', '10'], { timeout: 15_000, reject: false });
  await sleep(500);
  await current!.client.exec(['mosquitto_pub', ...login(from), '-t', topic, '-m', message, '-q', '1'], { timeout: 10_000 });
  return (await sub).stdout.trim();
}

lab('the rendered mosquitto.conf puts TLS on the admin listener and the bridge, and the bridge carries messages both ways', async (t) => {
  const [one, two] = [the(1), the(2)];
  const conf = readFileSync(one.placed.files.get('mosquitto.conf')!, 'utf8');
  t.regex(conf, new RegExp(`^listener 1885 ${one.address}\\n#.*\\ncafile \\S+\\ncertfile \\S+\\nkeyfile \\S+\\ntls_version tlsv1\\.2$`, 'm'));
  // The bridge is node2's, to node1 (the hub).
  t.regex(readFileSync(two.placed.files.get('mosquitto.conf')!, 'utf8'), /^bridge_cafile \S+\/ca\.crt$/m);
  t.notRegex(conf, /bridge_insecure true/);
  await current!.waitForBridges();
  t.is(await crossBridge(two, one, 'lab/tls/to-hub', 'from node2'), 'from node2');
  t.is(await crossBridge(one, two, 'lab/tls/from-hub', 'from node1'), 'from node1');
});

lab("the daemons' peer channel and the CLI's status reader work over TLS: passwd on node1 waits until node2 has the user", async (t) => {
  const [one, two] = [the(1), the(2)];
  for (const [node, peer] of [[one, two], [two, one]] as const) {
    t.true(node.daemonLines().some((line) => line.msg === 'peer channel connected' && line.peer === peer.name), `${node.name}'s daemon reached ${peer.name}`);
  }
  const set = await cli(one, ['passwd', 'tilda'], 'tilda-pw\n');
  t.is(set.exitCode, 0, set.stderr);
  t.regex(set.stdout, /^node2: has version \S+ \(\d+ ms\)$/m);
  t.true(await canLogin(current!, two, 'tilda', 'tilda-pw'));
});

lab('the admin listener refuses plain MQTT and a client that trusts another CA', async (t) => {
  const one = the(1);
  const other = makeCa(join(current!.dir, 'other-ca'), 'other-ca');
  const trusted = await adminPublish(one, ['--cafile', one.config.tls!.cafile]);
  t.is(trusted.exitCode, 0, `with the cluster's CA: ${trusted.stderr}`);
  const plain = await adminPublish(one, []);
  t.not(plain.exitCode, 0, 'plain MQTT');
  const untrusted = await adminPublish(one, ['--cafile', other.cert]);
  t.not(untrusted.exitCode, 0, 'another CA');
  t.regex(untrusted.stderr, /certificate verify failed|TLS error/);
});

/** mosquitto's own lines (under supervise, in its daemon's log) stamped at or after `since` (epoch ms; mosquitto stamps whole seconds). */
function brokerLinesSince(node: LabNode, since: number): string[] {
  return readFileSync(node.daemonLog, 'utf8').split('\n').filter((line) => {
    const stamp = /^(\d+): /.exec(line)?.[1];
    return stamp !== undefined && Number(stamp) >= Math.floor(since / 1000);
  });
}

/**
 * Node1's broker (the hub, which node2's bridge connects to) presents `impostor` (its certificate
 * and key put where its config names them, then a SIGHUP: mosquitto rereads them, mosquitto.conf(5)
 * certfile); node2 then connects afresh (its daemon killed with -9, its broker too, the daemon
 * started again): node2's daemon and node2's bridge must refuse node1, each with `daemonSays` and
 * `bridgeSays`. Then node1 gets its own files back, and both connect again without a restart.
 * Node1's broker stays up throughout: mosquitto 2.0.11's bridge over TLS can stay down for a long
 * time after it tried a peer broker in the moment that broker was restarting (see README, TLS),
 * which is not what this test is about.
 */
async function refusesImpostor(t: ExecutionContext, impostor: Issued, daemonSays: RegExp, bridgeSays: RegExp): Promise<void> {
  const [one, two] = [the(1), the(2)];
  const tls = one.config.tls!;
  const own = { cert: join(current!.dir, 'node1-own.crt'), key: join(current!.dir, 'node1-own.key') };
  copyFileSync(tls.certfile, own.cert);
  copyFileSync(tls.keyfile, own.key);
  // Copied over the files in place: they keep their owner (the mosquitto user) and mode.
  const present = (files: Issued) => {
    copyFileSync(files.cert, tls.certfile);
    copyFileSync(files.key, tls.keyfile);
    t.is(one.signal('mosquitto', 'SIGHUP').length, 1, "node1's broker rereads its certificate");
  };
  /** node2's daemon's first line about node1 since `since` that starts with `msg` (and whose error says `says`). */
  const peerLine = (msg: string, since: number, says?: RegExp) =>
    two.linesSince(msg, since).find((line) => line.peer === 'node1' && (!says || says.test((line.err as { message?: string } | undefined)?.message ?? '')));
  try {
    present(impostor);
    const since = Date.now();
    for (const pid of two.daemonPids()) process.kill(pid, 'SIGKILL');
    two.kill('mosquitto');
    await waitFor("node2's daemon and broker gone", () => two.daemonPids().length + two.pids('mosquitto').length === 0, { timeoutMs: 10_000, intervalMs: 50 });
    await two.startDaemon();
    const refused = await waitFor("node2's daemon to refuse node1's certificate", () => peerLine('peer channel error', since, daemonSays), { timeoutMs: 20_000, intervalMs: 50 });
    t.log(`node2's daemon: ${(refused.err as { message: string }).message}`);
    const bridge = await waitFor(`node2's bridge to refuse node1 (${String(bridgeSays)})`, () => brokerLinesSince(two, since).find((line) => bridgeSays.test(line)), { timeoutMs: 20_000, intervalMs: 100 }).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; node2's broker's lines since:\n${brokerLinesSince(two, since).slice(-40).join('\n')}`, { cause: error });
    });
    t.log(`node2's mosquitto: ${bridge}`);
    t.deepEqual([...(await current!.bridgeStates()).values()], ['0'], 'the bridge is down');
    t.is(peerLine('peer channel connected', since), undefined, "node2's daemon never connected to node1");

    const back = Date.now();
    present(own);
    await current!.waitForBridges();
    await waitFor("node2's daemon to reach node1 again", () => peerLine('peer channel connected', back), { timeoutMs: 20_000, intervalMs: 50 });
    t.is(await crossBridge(one, two, 'lab/tls/again', 'back'), 'back');
  } finally {
    // Whatever happened, node1 keeps its own certificate for the next test.
    copyFileSync(own.cert, tls.certfile);
    copyFileSync(own.key, tls.keyfile);
    one.signal('mosquitto', 'SIGHUP');
  }
}

lab("a broker presenting another CA's certificate for its own address is refused by the bridge and by the peer daemon; with its own back, both reconnect", async (t) => {
  const impostor = issueCert(makeCa(join(current!.dir, 'impostor-ca'), 'impostor-ca'), join(current!.dir, 'impostor'), 'node1', the(1).address);
  await refusesImpostor(t, impostor, /unable to verify the first certificate/, /certificate verify failed/);
});

lab("a broker presenting the cluster CA's certificate for another address is refused too: the bridge and the daemon check the IP SAN", async (t) => {
  const misnamed = issueCert(current!.ca!, join(current!.dir, 'misnamed'), 'node1', '198.18.0.99');
  await refusesImpostor(t, misnamed, /IP: 198\.18\.0\.11 is not in the cert's list: 198\.18\.0\.99/, /host name verification failed/);
});
