// Single-thread read bandwidth of this machine, as a ceiling for bandwidth-bound decode: Node's
// Buffer.compare of two equal 256 MiB buffers (native memcmp, SIMD) reads 512 MiB per call.
//   npx tsx bench/bandwidth.ts [--mib 256] [--repeats 5]
// Prints GB/s per repeat and the median. A decode step that streams W bytes of weights and S bytes
// of state cannot beat (median GB/s) / (W + S) steps per second on one thread.
import os from "node:os";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { mib: { type: "string", default: "256" }, repeats: { type: "string", default: "5" } } });
const n = Number(values.mib) * 2 ** 20;
const a = Buffer.alloc(n, 1);
const b = Buffer.alloc(n, 1);
const rates: number[] = [];
for (let r = 0; r < Number(values.repeats); r++) {
  const t0 = performance.now();
  if (a.compare(b) !== 0) throw new Error("buffers differ");
  rates.push((2 * n) / ((performance.now() - t0) / 1000) / 1e9);
}
rates.sort((x, y) => x - y);
console.log(`machine: ${os.cpus()[0]?.model ?? "?"}, ${os.cpus().length} cores, node ${process.version}; load average ${os.loadavg().map((v) => v.toFixed(1)).join(" ")}`);
console.log(`read bandwidth, one thread (memcmp of 2 x ${values.mib} MiB): ${rates.map((v) => v.toFixed(1)).join(", ")} GB/s; median ${rates[rates.length >> 1].toFixed(1)}`);
