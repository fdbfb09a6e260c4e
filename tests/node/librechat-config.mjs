// Validates a librechat.yaml (as JSON on stdin) with LibreChat's own schemas from
// librechat-data-provider, covering the three ways configSchema alone lets a bad file through:
// it strips unknown keys silently (so we compare keys), checks endpoints.custom only partially
// (so each custom endpoint also goes through endpointSchema), and throws rather than failing on
// a malformed MCP URL (so a throw is caught and reported). Prints one JSON report.
import { configSchema, endpointSchema } from "librechat-data-provider";

const input = JSON.parse(await new Promise((resolve) => {
  let text = "";
  process.stdin.on("data", (chunk) => (text += chunk));
  process.stdin.on("end", () => resolve(text));
}));

const issues = (error) => error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);

// Key paths present in `given` but gone from what the schema returned: unknown (stripped) keys.
function stripped(given, parsed, path = []) {
  if (given === null || typeof given !== "object" || Array.isArray(given)) {
    if (Array.isArray(given) && Array.isArray(parsed)) {
      return given.flatMap((item, i) => stripped(item, parsed[i], [...path, i]));
    }
    return [];
  }
  if (parsed === null || typeof parsed !== "object") return [];
  return Object.keys(given).flatMap((key) =>
    key in parsed ? stripped(given[key], parsed[key], [...path, key]) : [[...path, key].join(".")],
  );
}

const report = { issues: [], stripped: [], endpoints: [] };
try {
  const result = configSchema.safeParse(input);
  if (result.success) report.stripped = stripped(input, result.data);
  else report.issues = issues(result.error);
} catch (error) {
  report.issues.push(`configSchema threw: ${error.message}`);
}
for (const [i, endpoint] of (input.endpoints?.custom ?? []).entries()) {
  const result = endpointSchema.safeParse(endpoint);
  report.endpoints.push(result.success ? [] : issues(result.error).map((m) => `endpoints.custom.${i}.${m}`));
}
console.log(JSON.stringify(report));
