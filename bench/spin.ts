/**
 * How steep the ratio targets are on this machine: a bare node:http server that answers an
 * 887-byte body after spinning N µs of busy work per request, loaded by the bench's autocannon
 * (10 connections). Prints req/s, the share of the N = 0 rate, and the server's CPU per request
 * (/proc/<pid>/stat). Run: `npm run bench:spin` (about a minute).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { runLoad } from './lib/load.js';

const SPINS = [0, 5, 10, 20, 40];
const SECONDS = 8;

const server = `
const http = require('node:http');
const body = Buffer.alloc(887, 120);
let spin = 0;
process.on('message', (m) => { spin = m; process.send('ok'); });
const s = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const until = process.hrtime.bigint() + BigInt(spin * 1000);
    while (process.hrtime.bigint() < until);
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
    res.end(body);
  });
});
s.keepAliveTimeout = 72000;
s.listen(0, '127.0.0.1', () => process.send({ port: s.address().port }));
process.on('disconnect', () => process.exit(0));
`;

const cpuMicros = (pid: number): number => {
  const fields = (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
};

const child = spawn(process.execPath, ['-e', server], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const port = await new Promise<number>((resolve) => child.once('message', (m: { port: number }) => resolve(m.port)));
const setSpin = (n: number) =>
  new Promise<void>((resolve) => {
    child.once('message', () => resolve());
    child.send(n);
  });
const spec = { url: `http://127.0.0.1:${port}`, method: 'GET', path: '/', headers: {}, connections: 10 };

await runLoad({ ...spec, duration: 3 });
let base = 0;
console.log('| busy work per request | req/s | share of the bare rate | server CPU per request |');
console.log('|---|---|---|---|');
for (const spin of SPINS) {
  await setSpin(spin);
  const before = cpuMicros(child.pid as number);
  const r = await runLoad({ ...spec, duration: SECONDS });
  const cpu = (cpuMicros(child.pid as number) - before) / r.ok;
  if (spin === 0) base = r.rps;
  console.log(`| ${spin} µs | ${Math.round(r.rps).toLocaleString('en-US')} | ${Math.round((100 * r.rps) / base)} % | ${Math.round(cpu)} µs |`);
}
child.disconnect();
