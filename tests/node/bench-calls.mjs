// Times tool calls through the official TypeScript SDK client, the client LibreChat uses (its
// output-schema validation is compiled by ajv, where the Python SDK client runs jsonschema).
// Usage: node bench-calls.mjs URL, then one call per line on stdin, {"name", "arguments"}; prints
// "ready" once connected, then for each call the milliseconds it took, one per line, so that a
// driver can interleave these calls with others (bench/s3_overhead.py and its boto3 baseline).
import { createInterface } from "node:readline";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const client = new Client({ name: "toolpark-bench", version: "1.0.0" });
await client.connect(new StreamableHTTPClientTransport(new URL(process.argv[2])));
await client.listTools(); // as LibreChat does on connect; also caches the output validators
console.log("ready");
for await (const line of createInterface({ input: process.stdin })) {
  const call = JSON.parse(line);
  const started = performance.now();
  const result = await client.callTool(call);
  const elapsed = performance.now() - started;
  if (result.isError) throw new Error(`${call.name} failed: ${JSON.stringify(result.content)}`);
  console.log(elapsed);
}
await client.close();
