// Read bandwidth of this machine, as a ceiling for bandwidth-bound decode: Node's Buffer.compare of
// two equal buffers (native memcmp, SIMD) on each of N threads at once (worker_threads, started
// together through a shared counter); every thread reads 2 x --mib MiB per repeat.
//   npx tsx bench/bandwidth.ts [--threads 1] [--mib 256] [--repeats 5]
// Prints the aggregate GB/s per repeat and the median. A decode step that streams W bytes of weights
// and S bytes of state cannot beat (median GB/s) / (W + S) steps per second on N threads.
import os from "node:os";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";

// The timed loop, as JavaScript source so that worker threads can run it (eval) without a loader.
// Each repeat starts at a barrier: count the arrivals, spin until all threads are there (30 s at most).
const RUN = `(mib, repeats, sync, threads) => {
  const n = mib * 2 ** 20;
  const a = Buffer.alloc(n, 1), b = Buffer.alloc(n, 1);
  const ms = [];
  for (let r = 0; r < repeats; r++) {
    Atomics.add(sync, 0, 1);
    const deadline = Date.now() + 30000;
    while (Atomics.load(sync, 0) < threads * (r + 1)) if (Date.now() > deadline) throw new Error("bandwidth: a thread did not start");
    const t0 = performance.now();
    if (a.compare(b) !== 0) throw new Error("buffers differ");
    ms.push(performance.now() - t0);
  }
  return ms;
}`;
const WORKER = `const { parentPort, workerData: d } = require("node:worker_threads");
parentPort.postMessage((${RUN})(d.mib, d.repeats, d.sync, d.threads));`;

const { values } = parseArgs({
  options: { threads: { type: "string", default: "1" }, mib: { type: "string", default: "256" }, repeats: { type: "string", default: "5" } },
});
const [threads, mib, repeats] = [Number(values.threads), Number(values.mib), Number(values.repeats)];
const sync = new Int32Array(new SharedArrayBuffer(4));
const workers = Array.from({ length: threads - 1 }, () =>
  new Promise<number[]>((resolve, reject) => {
    const w = new Worker(WORKER, { eval: true, workerData: { mib, repeats, sync, threads } });
    w.once("message", resolve);
    w.once("error", reject);
  }));
const run = (0, eval)(RUN) as (mib: number, repeats: number, sync: Int32Array, threads: number) => number[];
const mine = run(mib, repeats, sync, threads);
const all = [mine, ...(await Promise.all(workers))];
// a repeat lasts as long as its slowest thread
const rates = mine.map((_, r) => (threads * 2 * mib * 2 ** 20) / (Math.max(...all.map((t) => t[r])) / 1000) / 1e9).sort((x, y) => x - y);
console.log(`machine: ${os.cpus()[0]?.model ?? "?"}, ${os.cpus().length} cores, node ${process.version}; load average ${os.loadavg().map((v) => v.toFixed(1)).join(" ")}`);
console.log(`read bandwidth, ${threads} thread(s) (memcmp of 2 x ${mib} MiB each): ${rates.map((v) => v.toFixed(1)).join(", ")} GB/s; median ${rates[rates.length >> 1].toFixed(1)}`);
