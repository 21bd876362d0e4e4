import { readFileSync } from 'node:fs';
import { env } from './stack.ts';

/** A call to the stack's OpenBao over its TLS listener (trusted through NODE_EXTRA_CA_CERTS). */
export async function bao(
  method: string,
  path: string,
  body?: unknown,
  token: string | null = 'root',
): Promise<{ status: number; json: Record<string, unknown> }> {
  const headers: Record<string, string> = {};
  if (token) headers['x-vault-token'] = token;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${env('REGCRED_STACK_BAO_ADDR')}/v1/${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

export async function baoOk(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const r = await bao(method, path, body);
  if (r.status >= 300) throw new Error(`${method} ${path}: HTTP ${r.status} ${JSON.stringify(r.json)}`);
  return r.json;
}

export async function kvPut(path: string, data: Record<string, string>): Promise<number> {
  const r = await baoOk('POST', `secret/data/${path}`, { data });
  return ((r['data'] as Record<string, unknown>)['version'] as number | undefined) ?? 0;
}

export async function policy(name: string, hcl: string): Promise<void> {
  await baoOk('PUT', `sys/policies/acl/${name}`, { policy: hcl });
}

export async function enableAuth(path: string, type: string): Promise<void> {
  await baoOk('POST', `sys/auth/${path}`, { type });
}

export const stackCa = (): string => readFileSync(env('REGCRED_STACK_CA'), 'utf8');
