/**
 * Reads a password without it ever being an argument: from the terminal with echo off (asked
 * twice), or the first line of stdin when stdin is a pipe (`printf '%s\n' "$PW" | …`).
 */
import { createInterface } from 'node:readline/promises';
import { Writable } from 'node:stream';
import { UsageError } from './errors.js';

/** A password longer than this is a mistake (a file piped in by accident), not a password. */
const MAX_LENGTH = 4096;

async function firstLine(input: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of input) {
    text += chunk.toString();
    if (text.includes('\n') || text.length > MAX_LENGTH) break;
  }
  return text.split(/\r?\n/)[0] ?? '';
}

async function askHidden(prompt: string, input: NodeJS.ReadableStream, output: NodeJS.WritableStream): Promise<string> {
  // readline with a muted output: what is typed is not echoed.
  const muted = new Writable({ write: (_chunk, _encoding, done) => done() });
  const line = createInterface({ input, output: muted, terminal: true });
  try {
    output.write(prompt);
    return await line.question('');
  } finally {
    line.close();
    output.write('\n');
  }
}

export interface PasswordSource {
  input: NodeJS.ReadableStream & { isTTY?: boolean };
  output: NodeJS.WritableStream;
}

export async function readPassword(source: PasswordSource): Promise<string> {
  let password: string;
  if (source.input.isTTY) {
    password = await askHidden('Password: ', source.input, source.output);
    const again = await askHidden('Reenter password: ', source.input, source.output);
    if (again !== password) throw new UsageError('the passwords do not match');
  } else {
    password = await firstLine(source.input);
  }
  if (password.length === 0) throw new UsageError('empty password (give it on the prompt, or as the first line of stdin)');
  if (password.length > MAX_LENGTH) throw new UsageError(`password longer than ${MAX_LENGTH} characters`);
  return password;
}
