// Uses one rendered librechat.yaml MCP entry the way LibreChat does: the TypeScript SDK's
// StreamableHTTPClientTransport with the entry's headers, its {{LIBRECHAT_USER_*}} placeholders
// filled for one user and ${VAR} from the environment. Lists the tools and calls one.
// Usage: node librechat-mcp.mjs URL HEADERS_JSON TOOL ARGUMENTS_JSON ; prints one JSON object.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, headersJson, tool, argsJson] = process.argv.slice(2);
const user = { LIBRECHAT_USER_ID: "lc-user-7", LIBRECHAT_USER_NAME: "Lin Chat", LIBRECHAT_USER_EMAIL: "lin@example.org",
               LIBRECHAT_USER_ROLE: "user" };
const fill = (value) => value
  .replace(/\{\{(LIBRECHAT_USER_[A-Z_]+)\}\}/g, (_, name) => user[name] ?? "")
  .replace(/\$\{([A-Z_][A-Z0-9_]*)\}/g, (_, name) => process.env[name] ?? "");
const headers = Object.fromEntries(Object.entries(JSON.parse(headersJson)).map(([k, v]) => [k, fill(v)]));
const result = {};
try {
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  const client = new Client({ name: "librechat-stand-in", version: "1.0.0" });
  await client.connect(transport);
  result.tools = (await client.listTools()).tools.map((t) => t.name);
  const called = await client.callTool({ name: tool, arguments: JSON.parse(argsJson) });
  result.isError = called.isError ?? false;
  result.text = called.content?.[0]?.text ?? "";
  await client.close();
} catch (error) {
  result.error = String(error);
}
console.log(JSON.stringify(result));
