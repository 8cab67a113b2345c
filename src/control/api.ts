/**
 * The control API's protocol (README, "Control API"), in the style of mosquitto's
 * dynamic-security plugin: `{"commands":[{"command":"getCluster"}, …]}` in, `{"responses":[…]}`
 * out, one response per command, in order, with `data` or `error`. Pure: bytes in, a parsed
 * request or the error to answer with; the commands themselves are handlers (commands.ts).
 *
 * Where the answer goes: MQTT v5's response topic and correlation data, or, for a v3.1.1 client,
 * `responseTopic` and `correlationData` (a string) in the request. Either way the topic must be
 * the caller's own response topic or below it (Topics.controlResponse): the daemon may write
 * every topic of the peer channel, and must not be made to write one of them for a caller.
 */
import { z } from 'zod';

/** A request larger than this is answered with an error and not parsed. */
export const MAX_REQUEST_BYTES = 64 * 1024;
/** Commands in one request. */
export const MAX_COMMANDS = 16;
/** The correlation data a v3.1.1 client may put in a request. */
const MAX_CORRELATION_CHARS = 256;

const Command = z.looseObject({ command: z.string().min(1).max(64) });
const Request = z.strictObject({
  commands: z.array(Command).min(1).max(MAX_COMMANDS),
  responseTopic: z.string().min(1).max(1024).optional(),
  correlationData: z.string().max(MAX_CORRELATION_CHARS).optional(),
});

export type CommandRequest = z.infer<typeof Command>;
export type ControlRequest = z.infer<typeof Request>;

export interface CommandResponse {
  command: string;
  data?: unknown;
  error?: string;
}

export interface ControlResponse {
  responses: CommandResponse[];
  /** Echoed for a v3.1.1 client that sent it in the request. */
  correlationData?: string;
}

export type Parsed = { ok: true; request: ControlRequest } | { ok: false; error: string };

/** The request in `payload`, or why it is not one (without the payload's bytes). */
export function parseRequest(payload: Buffer): Parsed {
  if (payload.length > MAX_REQUEST_BYTES) return { ok: false, error: `the request is ${payload.length} bytes; at most ${MAX_REQUEST_BYTES}` };
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch {
    return { ok: false, error: 'the request is not valid JSON' };
  }
  const parsed = Request.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length > 0 ? issue.path.join('.') : 'the request';
    return { ok: false, error: `${where}: ${issue.message} (expected {"commands":[{"command":"getCluster"}]}, at most ${MAX_COMMANDS} commands)` };
  }
  return { ok: true, request: parsed.data };
}

/**
 * Where the answer to `user` goes: the v5 response topic, else the request's own; undefined (no
 * answer) when there is none, or when it is not `ownTopic` or below it.
 */
export function responseTopicOf(v5Topic: string | undefined, request: ControlRequest | undefined, ownTopic: string): string | undefined {
  const topic = v5Topic ?? request?.responseTopic;
  if (topic === undefined) return undefined;
  return topic === ownTopic || (topic.startsWith(`${ownTopic}/`) && !/[+#\0]/.test(topic)) ? topic : undefined;
}

export type Handler = (command: CommandRequest) => unknown;

/** Runs each command with its handler, in order; a handler that throws answers with its message. */
export async function answer(request: ControlRequest, handlers: Readonly<Record<string, Handler>>): Promise<ControlResponse> {
  const responses: CommandResponse[] = [];
  for (const command of request.commands) {
    const handler = Object.hasOwn(handlers, command.command) ? handlers[command.command] : undefined;
    if (!handler) {
      responses.push({ command: command.command, error: `unknown command; known: ${Object.keys(handlers).join(', ')}` });
      continue;
    }
    try {
      responses.push({ command: command.command, data: await handler(command) });
    } catch (error) {
      responses.push({ command: command.command, error: error instanceof Error ? error.message : String(error) });
    }
  }
  return { responses, ...(request.correlationData === undefined ? {} : { correlationData: request.correlationData }) };
}

/** The answer to a request that could not be parsed (dynamic-security answers the same way). */
export function refusal(error: string): ControlResponse {
  return { responses: [{ command: 'Unknown', error }] };
}
