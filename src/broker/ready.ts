/** Waits (bounded) until the broker completes an MQTT CONNECT for the daemon user: "accepting". */
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';

export interface ReadyOptions {
  host: string;
  port: number;
  username: string;
  password: string;
  timeoutMs?: number;
  intervalMs?: number;
}

export async function waitAccepting(options: ReadyOptions): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  let last: unknown;
  for (let attempt = 0; Date.now() < deadline && attempt < 10_000; attempt++) {
    try {
      const client = await mqtt.connectAsync(`mqtt://${options.host}:${options.port}`, {
        username: options.username,
        password: options.password,
        clientId: `mqfo-ready-${process.pid}-${attempt}`,
        reconnectPeriod: 0,
        connectTimeout: Math.max(500, Math.min(5_000, deadline - Date.now())),
      });
      await client.endAsync(true);
      return;
    } catch (error) {
      last = error;
      await sleep(options.intervalMs ?? 20);
    }
  }
  throw new Error(`the broker at ${options.host}:${options.port} did not accept a connection in time: ${(last as Error | undefined)?.message ?? 'no attempt'}`, { cause: last });
}
