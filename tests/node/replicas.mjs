// Drives replicas behind a load balancer with the official TypeScript SDK client (as LibreChat
// connects), kills one replica partway, retries each call lost once, and counts.
// Usage: node replicas.mjs URL PID CALLS CONCURRENCY KILL_AFTER ; prints one JSON object.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, pid, calls, concurrency, killAfter] = process.argv.slice(2);
const total = Number(calls);
const client = new Client({ name: "toolpark-replicas", version: "1.0.0" });
await client.connect(new StreamableHTTPClientTransport(new URL(url)));

// Each call takes a fifth of a second, so several are in flight when the replica dies. A stream the
// balancer cut short shows in the SDK only as a timeout, hence a short one.
async function call(i) {
  const result = await client.callTool(
    { name: "sleep", arguments: { seconds: 0.2 } }, undefined, { timeout: 5000 },
  );
  if (result.isError || result.content[0].text !== "slept 0.2 s") {
    throw new Error(`call ${i}: ${JSON.stringify(result)}`);
  }
}

let next = 0;
let done = 0;
let killed = false;
const lost = [];
async function worker() {
  while (next < total) {
    const i = next++;
    try {
      await call(i);
    } catch (error) {
      lost.push(`call ${i}: ${String(error?.message ?? error).slice(0, 200)}`);
      // The client's one retry, after a backoff longer than the balancer's health-check interval
      // (until that check runs, a request may still go to the dead replica): it must succeed.
      await new Promise((resolve) => setTimeout(resolve, 2000));
      await call(i);
    }
    done += 1;
    if (!killed && done >= Number(killAfter)) {
      killed = true;
      process.kill(Number(pid), "SIGKILL");
    }
  }
}
await Promise.all(Array.from({ length: Number(concurrency) }, worker));
console.log(JSON.stringify({ calls: total, succeeded: done, lost: lost.length, errors: lost }));
await client.close();
