// Drives toolpark's tasks (the io.modelcontextprotocol/tasks extension, 2026-07-28) over the official
// TypeScript SDK's streamable HTTP transport: one connection starts a task and goes away, another
// reads it back (or cancels it). The SDK's Client 2.4 rejects `resultType: "task"` (it has no API for
// the extension yet), so the requests are written here and the SDK's transport carries them.
// Usage: [MCP_HEADERS=JSON] node tasks.mjs URL TOOL ARGS_JSON [cancel|start] ; prints one JSON object with
// what it saw (`start`: only the created task, without waiting for it), or node tasks.mjs URL --get TASK_ID.
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/client";

const [url, tool] = [new URL(process.argv[2]), process.argv[3]];
const [args, mode] = tool === "--get" ? [null, "get"] : [JSON.parse(process.argv[4]), process.argv[5]];
const TASKS = "io.modelcontextprotocol/tasks";
const meta = {
  "io.modelcontextprotocol/protocolVersion": "2026-07-28",
  "io.modelcontextprotocol/clientInfo": { name: "toolpark-tasks", version: "1.0.0" },
  "io.modelcontextprotocol/clientCapabilities": { extensions: { [TASKS]: {} }, elicitation: { form: {} } },
};
const headers = JSON.parse(process.env.MCP_HEADERS ?? "{}");

async function connect() {
  const transport = new StreamableHTTPClientTransport(url, { requestInit: { headers } });
  transport.setProtocolVersion("2026-07-28");
  const waiting = new Map();
  transport.onmessage = (message) => waiting.get(message.id)?.(message);
  await transport.start();
  let next = 0;
  const request = (method, params) => new Promise((resolve, reject) => {
    const id = ++next;
    waiting.set(id, (message) => (message.error ? reject(Object.assign(new Error(message.error.message), message.error)) : resolve(message.result)));
    transport.send({ jsonrpc: "2.0", id, method, params: { ...params, _meta: meta } }).catch(reject);
  });
  return { request, close: () => transport.close() };
}

async function settled(client, taskId) {
  let task;
  for (let i = 0; i < 1200; i++) {
    task = await client.request("tasks/get", { taskId });
    if (["completed", "failed", "cancelled"].includes(task.status)) break;
    await new Promise((done) => setTimeout(done, 100));
  }
  return { status: task.status, result: task.result ?? null, error: task.error ?? null, statusMessage: task.statusMessage ?? null };
}

if (mode === "get") {
  const client = await connect();
  console.log(JSON.stringify({ final: await settled(client, process.argv[4]) }));
  await client.close();
  process.exit(0);
}

const first = await connect();
let created = await first.request("tools/call", { name: tool, arguments: args });
const rounds = [created.resultType];
while (created.resultType === "input_required") {  // questions asked before the call became a task
  const inputResponses = Object.fromEntries(Object.keys(created.inputRequests).map((key) => [key, { action: "accept", content: { name: "Ada" } }]));
  created = await first.request("tools/call", { name: tool, arguments: args, inputResponses, requestState: created.requestState });
  rounds.push(created.resultType);
}
await first.close();  // the client goes away while the task works

const seen = { rounds, created: { status: created.status, taskId: created.taskId, ttlMs: created.ttlMs } };
if (mode === "start") {
  console.log(JSON.stringify(seen));
  process.exit(0);
}
const second = await connect();
if (mode === "cancel") seen.cancelAck = await second.request("tasks/cancel", { taskId: created.taskId });
seen.final = await settled(second, created.taskId);
try {
  await (await connect()).request("tasks/get", { taskId: "not-" + created.taskId });
} catch (error) {
  seen.unknown = error.code;
}
await second.close();
console.log(JSON.stringify(seen));
