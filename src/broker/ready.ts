/** Waits (bounded) until the broker completes an MQTT CONNECT for the daemon user: "accepting". */
import { connectOnce, type Login } from '../mqtt/client.js';
import { retryUntil } from '../retry.js';

export async function waitAccepting(login: Login, options: { timeoutMs?: number; intervalMs?: number } = {}): Promise<void> {
  await retryUntil(
    { what: `the broker at ${login.host}:${login.port} did not accept a connection in time`, code: 'ENOTREADY', timeoutMs: options.timeoutMs ?? 20_000, intervalMs: options.intervalMs ?? 20 },
    async (deadline) => {
      const client = await connectOnce(login, { purpose: 'ready', timeoutMs: Math.min(5_000, deadline - Date.now()) });
      await client.endAsync(true);
    },
  );
}
