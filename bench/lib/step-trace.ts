/**
 * Loaded into the bench API with `--import` by the `gateway-steps` section: the time of each step
 * of a gateway call, from Node's and undici's diagnostics channels (no change to the API's code),
 * written as JSON to the file BENCH_STEP_TRACE names when the process exits. Times are
 * `performance.timeOrigin + performance.now()`, comparable with the bench process's own.
 *
 * Made for requests one at a time: each step is kept for the request that started last.
 */
import { subscribe } from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { performance } from 'node:perf_hooks';

export interface StepTimes {
  /** The API's HTTP server has the request's headers. */
  start: number;
  /** The gateway created its upstream request (undici). */
  upstream_created?: number;
  /** The upstream request's headers were written to the provider's connection. */
  upstream_sent?: number;
  /** The provider's status and headers arrived. */
  upstream_headers?: number;
  /** The first write of the answer to the client (status line and headers included). */
  first_write?: number;
  /** The answer is finished (its last byte handed to the OS). */
  finish?: number;
}

const file = process.env.BENCH_STEP_TRACE;
if (file) {
  const now = () => performance.timeOrigin + performance.now();
  const records: StepTimes[] = [];
  let current: StepTimes | null = null;
  const mark = (step: Exclude<keyof StepTimes, 'start'>) => {
    if (current && current[step] === undefined) current[step] = now();
  };
  subscribe('http.server.request.start', () => {
    current = { start: now() };
    records.push(current);
  });
  subscribe('undici:request:create', () => mark('upstream_created'));
  subscribe('undici:client:sendHeaders', () => mark('upstream_sent'));
  subscribe('undici:request:headers', () => mark('upstream_headers'));
  subscribe('http.server.response.finish', () => mark('finish'));
  const { write, end } = http.ServerResponse.prototype;
  http.ServerResponse.prototype.write = function (this: http.ServerResponse, ...args: unknown[]) {
    mark('first_write');
    return (write as (...a: unknown[]) => boolean).apply(this, args);
  } as typeof write;
  http.ServerResponse.prototype.end = function (this: http.ServerResponse, ...args: unknown[]) {
    mark('first_write');
    return (end as (...a: unknown[]) => http.ServerResponse).apply(this, args);
  } as typeof end;
  process.on('exit', () => writeFileSync(file, JSON.stringify(records)));
}
