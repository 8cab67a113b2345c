/**
 * The probe from the lab's client namespace: an mqtt.js publisher and subscriber in a process of
 * their own (probe-main.ts), whose every send, ack and receive is collected here with its time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
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
}

const HERE = import.meta.url;
const MAIN = fileURLToPath(new URL(HERE.endsWith('.ts') ? './probe-main.ts' : './probe-main.js', HERE));

export class Probe {
  readonly events: ProbeEvent[] = [];
  readonly topic: string;
  private readonly child: ChildProcess;
  private readonly exited: Promise<number | null>;
  private stderr = '';
  private readonly counted: boolean;

  private constructor(child: ChildProcess, topic: string, counted: boolean) {
    this.child = child;
    this.topic = topic;
    this.counted = counted;
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        this.events.push(JSON.parse(line) as ProbeEvent);
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
    const spec: ProbeSpec = {
      publish: endpoint(publishTo, 'pub'),
      subscribe: endpoint(options.subscribeTo ?? publishTo, 'sub'),
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
    const node = [process.execPath, ...(HERE.endsWith('.ts') ? ['--import', import.meta.resolve('tsx')] : []), MAIN];
    const child = spawn('ip', ['netns', 'exec', lab.client.name, ...node], { stdio: ['pipe', 'pipe', 'pipe'] });
    const probe = new Probe(child, topic, options.count !== undefined);
    child.stdin.write(`${JSON.stringify(spec)}\n`);
    try {
      await probe.waitFor('the probe subscribed', (event) => event.e === 'subscribed', 15_000);
    } catch (error) {
      child.kill('SIGKILL');
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
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const code = await this.exited;
    clearTimeout(timer);
    if (code !== 0 || !this.events.some((event) => event.e === 'done')) {
      throw new Error(`the probe ended with ${code} before it finished: ${this.stderr.slice(-2000)}`);
    }
    return analyze(this.events);
  }
}
