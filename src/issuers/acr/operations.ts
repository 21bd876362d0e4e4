import { setTimeout as sleep } from 'node:timers/promises';
import { jsonBody, type HttpResponse } from '../../net/http.ts';
import { retryAfterMs } from '../../net/retry.ts';
import { ArmError } from './arm-error.ts';

/** A GET of a polling URL, with the client's auth and retries. */
export type PollGet = (url: string) => Promise<HttpResponse>;

/** ARM's pace: the answer's Retry-After, else a second (the SDKs' default), never more than ten. */
const interval = (res: HttpResponse): number =>
  Math.min(retryAfterMs(res.headers.get('retry-after')) ?? 1000, 10_000);

async function pause(wait: number, deadline: number): Promise<void> {
  if (Date.now() + wait > deadline)
    throw new ArmError('the operation did not finish in time', { code: 'OperationTimeout' });
  await sleep(wait);
}

/** Polls an Azure-AsyncOperation URL until `Succeeded`; `Failed`/`Canceled` carry ARM's error. */
export async function awaitStatus(
  get: PollGet,
  url: string,
  first: HttpResponse,
  deadline: number,
): Promise<void> {
  let wait = interval(first);
  for (;;) {
    await pause(wait, deadline);
    const res = await get(url);
    const b = jsonBody(res) as
      { status?: unknown; error?: { code?: unknown; message?: unknown } } | undefined;
    const status = typeof b?.status === 'string' ? b.status : '';
    if (status === 'Succeeded') return;
    if (status === 'Failed' || status === 'Canceled') {
      const code = typeof b?.error?.code === 'string' ? b.error.code : `Operation${status}`;
      const message = typeof b?.error?.message === 'string' ? b.error.message : `the operation ${status}`;
      throw new ArmError(message.slice(0, 600), { status: res.status, code });
    }
    wait = interval(res);
  }
}

/**
 * Polls a Location URL: 202 while running, then the result's body. Right after an
 * Azure-AsyncOperation said Succeeded, the first GET goes at once.
 */
export async function awaitResult(
  get: PollGet,
  url: string,
  first: HttpResponse,
  deadline: number,
): Promise<unknown> {
  let wait = first.headers.get('azure-asyncoperation') !== null ? 0 : interval(first);
  for (;;) {
    await pause(wait, deadline);
    const res = await get(url);
    if (res.status !== 202) return jsonBody(res);
    wait = interval(res);
  }
}
