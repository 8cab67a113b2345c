/**
 * The probe from the lab's client namespace: an mqtt.js publisher and subscriber in a process of
 * their own (probe-main.ts), whose every send, ack and receive is collected here with its time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Lab } from './lab.js';
import { analyze, type ProbeEvent, type ProbeReport } from './history.js';
import type { ProbeSpec } from './probe-main.js';
import { waitFor } from './wait.js';

/** Where a client connects: the VIP, or a node's own address (by id). */
export type Target = 'vip' | number;

export interface ProbeOptions {
  /** Where the publisher connects (default the VIP). */
  publishTo?: Target;
  /** Where the subscriber connects (default the same as the publisher). */
  subscribeTo?: Target;
  qos?: 0 | 1 | 2;
  /** Messages per second (default 50). */
  rate?: number;
  /** Publish this many, then stop by itself. */
  count?: number;
  /** The topic (default a fresh one under lab/probe/). */
  topic?: string;
  drainMs?: number;
  keepaliveSeconds?: number;
  /** The subscriber's own keepalive (default keepaliveSeconds). */
  subscriberKeepaliveSeconds?: number;
  /** The subscriber's own reconnect delay (default reconnectPeriodMs). */
  subscriberReconnectPeriodMs?: number;
  reconnectPeriodMs?: number;
  /** Subscriber session clean (default true). */
  clean?: boolean;
  /**
   * Who subscribes: mqtt.js in the probe's process (default), or Debian's python3-paho-mqtt as a
   * Python application would (lab/paho-sub.py: a persistent session, paho's own reconnect
   * back-off; `clean` and the reconnect delays do not apply to it).
   */
  subscriber?: 'mqtt.js' | 'paho';
}

/** Debian's python3-paho-mqtt is a module of the system's Python (not of a pyenv or venv one on PATH). */
const SYSTEM_PYTHON = '/usr/bin/python3';

const HERE = import.meta.url;
const MAIN = fileURLToPath(new URL(HERE.endsWith('.ts') ? './probe-main.ts' : './probe-main.js', HERE));
const PAHO = fileURLToPath(new URL('./paho-sub.py', HERE));

export class Probe {
  readonly events: ProbeEvent[] = [];
  readonly topic: string;
  private readonly child: ChildProcess;
  private readonly exited: Promise<number | null>;
  private stderr = '';
  private readonly counted: boolean;
  /** The paho subscriber's process, when it subscribes (its 'done' is not the probe's). */
  private readonly paho: { child: ChildProcess; exited: Promise<number | null> } | undefined;

  private constructor(child: ChildProcess, topic: string, counted: boolean, paho?: ChildProcess) {
    this.child = child;
    this.topic = topic;
    this.counted = counted;
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    this.collect(child, (event) => event);
    if (paho) {
      this.paho = { child: paho, exited: new Promise((resolve) => paho.once('exit', (code) => resolve(code))) };
      this.collect(paho, (event) => (event.e === 'done' ? undefined : event));
    }
  }

  private collect(child: ChildProcess, keep: (event: ProbeEvent) => ProbeEvent | undefined): void {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const event = keep(JSON.parse(line) as ProbeEvent);
        if (event) this.events.push(event);
      } catch {
        this.stderr += `${line}\n`;
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
  }

  /** Starts the probe and waits (bounded) until its subscription is in place. */
  static async start(lab: Lab, options: ProbeOptions = {}): Promise<Probe> {
    const { config } = lab.loaded;
    const addressOf = (target: Target) => (target === 'vip' ? config.vip.address : lab.node(target).address);
    const id = randomBytes(4).toString('hex');
    const endpoint = (target: Target, role: string) => ({
      url: `mqtt://${addressOf(target)}:${config.broker.client_port}`,
      username: lab.clientUser.user,
      password: lab.clientUser.password,
      clientId: `lab-probe-${id}-${role}`,
    });
    const publishTo = options.publishTo ?? 'vip';
    const topic = options.topic ?? `lab/probe/${id}`;
    const paho = options.subscriber === 'paho';
    const spec: ProbeSpec = {
      publish: endpoint(publishTo, 'pub'),
      ...(paho ? {} : { subscribe: endpoint(options.subscribeTo ?? publishTo, 'sub') }),
      topic,
      qos: options.qos ?? 1,
      rate: options.rate ?? 50,
      ...(options.count === undefined ? {} : { count: options.count }),
      drainMs: options.drainMs ?? 5_000,
      keepaliveSeconds: options.keepaliveSeconds ?? 5,
      ...(options.subscriberKeepaliveSeconds === undefined ? {} : { subscriberKeepaliveSeconds: options.subscriberKeepaliveSeconds }),
      ...(options.subscriberReconnectPeriodMs === undefined ? {} : { subscriberReconnectPeriodMs: options.subscriberReconnectPeriodMs }),
      reconnectPeriodMs: options.reconnectPeriodMs ?? 100,
      connectTimeoutMs: 2_000,
      clean: options.clean ?? true,
    };
    // The paho subscriber starts first, and the publisher once it has subscribed.
    const node = [process.execPath, ...(HERE.endsWith('.ts') ? ['--import', import.meta.resolve('tsx')] : []), MAIN];
    const child = spawn('ip', ['netns', 'exec', lab.client.name, ...node], { stdio: ['pipe', 'pipe', 'pipe'] });
    let subscriber: ChildProcess | undefined;
    if (paho) {
      const target = options.subscribeTo ?? publishTo;
      subscriber = spawn('ip', ['netns', 'exec', lab.client.name, SYSTEM_PYTHON, PAHO], { stdio: ['pipe', 'pipe', 'pipe'] });
      const { username, password, clientId } = endpoint(target, 'sub');
      subscriber.stdin!.write(`${JSON.stringify({ host: addressOf(target), port: config.broker.client_port, username, password, clientId, topic, qos: spec.qos, keepalive: spec.subscriberKeepaliveSeconds ?? spec.keepaliveSeconds })}\n`);
    }
    const probe = new Probe(child, topic, options.count !== undefined, subscriber);
    if (!paho) child.stdin.write(`${JSON.stringify(spec)}\n`);
    try {
      await probe.waitFor('the probe subscribed', (event) => event.e === 'subscribed', 15_000);
      if (paho) child.stdin.write(`${JSON.stringify(spec)}\n`);
    } catch (error) {
      child.kill('SIGKILL');
      subscriber?.kill('SIGKILL');
      throw error;
    }
    return probe;
  }

  /** Waits (bounded) for an event matching `predicate`; resolves with it. */
  async waitFor(what: string, predicate: (event: ProbeEvent) => boolean, timeoutMs: number): Promise<ProbeEvent> {
    return waitFor(
      what,
      () => {
        if (this.child.exitCode !== null) throw new Error(`the probe exited with ${this.child.exitCode}: ${this.stderr.slice(-2000)}`);
        return this.events.find(predicate);
      },
      { timeoutMs, intervalMs: 10 },
    );
  }

  /**
   * Stops publishing (or, with `count`, lets it publish them all), lets it drain, and reports.
   * Bounded by `timeoutMs`, after which the probe is killed and this throws.
   */
  async stop(timeoutMs = 30_000): Promise<ProbeReport> {
    if (this.child.exitCode === null && !this.counted) this.child.stdin!.write('stop\n');
    const started = Date.now();
    const timer = setTimeout(() => {
      this.child.kill('SIGKILL');
      this.paho?.child.kill('SIGKILL');
    }, timeoutMs);
    const code = await this.exited;
    let pahoCode: number | null = 0;
    if (this.paho) {
      // The publisher has its acks; the subscriber in its own process drains until nothing came for 500 ms (bounded).
      const lastReceive = () => this.events.findLast((event) => event.e === 'recv')?.t ?? 0;
      while (Date.now() - started < timeoutMs - 1_000 && Date.now() - Math.max(lastReceive(), started) < 500) await sleep(20);
      if (this.paho.child.exitCode === null) this.paho.child.stdin!.write('stop\n');
      pahoCode = await this.paho.exited;
    }
    clearTimeout(timer);
    if (code !== 0 || pahoCode !== 0 || !this.events.some((event) => event.e === 'done')) {
      throw new Error(`the probe ended with ${code}${this.paho ? ` (paho ${pahoCode})` : ''} before it finished: ${this.stderr.slice(-2000)}`);
    }
    return analyze(this.events);
  }
}
