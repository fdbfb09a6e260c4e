// What a model behind LibreChat reads of an MCP tool result. LibreChat's formatter
// (formatToolContent, packages/api/src/mcp/parsers.ts) is not published on npm (@librechat/api is
// not), so this is a port of the part our results meet, for a recognized provider such as openai:
// text blocks joined by blank lines; images moved out as image_url artifacts; an embedded resource
// as "Resource Text/URI/MIME Type" lines, except a ui:// one, which becomes a ui_resources artifact
// (keyed by the first 10 hex digits of its text's SHA-256) and, for the model, its id and a \ui{id}
// marker, with a paragraph on placing markers at the end; any other block (a resource_link) JSON-stringified with
// two-space indentation; no blocks at all: the structured content as indented JSON, else
// "(No response)". `selfCheck` runs LibreChat's own published test cases for those paths
// (packages/api/src/mcp/__tests__/parsers.test.ts) against the port.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";

// What LibreChat appends for the model once a result has ui:// resources (its first lines; the
// rest says how to place several markers).
const UI_NOTE = "\n\nUI Resource Markers Available:\n- Each resource above includes a stable ID and a marker hint like \`\\ui{abc123}\`";

export function formatToolContent(result) {
  const content = result?.content ?? [];
  if (!content.length) {
    const structured = result?.structuredContent;
    return [structured != null && typeof structured === "object" ? JSON.stringify(structured, null, 2) : "(No response)", undefined];
  }
  const blocks = [];
  const images = [];
  const uiResources = [];
  for (const item of content) {
    if (item.type === "text") {
      blocks.push(item.text);
    } else if (item.type === "image") {
      const remote = item.data.startsWith("http://") || item.data.startsWith("https://");
      images.push({ type: "image_url", image_url: { url: remote ? item.data : `data:${item.mimeType};base64,${item.data}` } });
    } else if (item.type === "resource") {
      const lines = [];
      if (item.resource.uri.startsWith("ui://")) {
        const hashed = typeof item.resource.text === "string" && item.resource.text ? item.resource.text : item.resource.uri;
        const resourceId = createHash("sha256").update(hashed).digest("hex").slice(0, 10);
        uiResources.push({ ...item.resource, resourceId });
        lines.push(`UI Resource ID: ${resourceId}`, `UI Resource Marker: \\ui{${resourceId}}`);
      } else if (item.resource.text) lines.push(`Resource Text: ${item.resource.text}`);
      if (item.resource.uri) lines.push(`Resource URI: ${item.resource.uri}`);
      if (item.resource.mimeType) lines.push(`Resource MIME Type: ${item.resource.mimeType}`);
      if (lines.length) blocks.push(lines.join("\n"));
    } else {
      blocks.push(JSON.stringify(item, null, 2));
    }
  }
  let artifacts = images.length ? { content: images } : undefined;
  if (uiResources.length) artifacts = { ...artifacts, ui_resources: { data: uiResources } };
  const text = blocks.join("\n\n") + (uiResources.length ? UI_NOTE : "");
  return [text || (artifacts !== undefined ? "" : "(No response)"), artifacts];
}

export function selfCheck() {
  const cases = [
    [{ content: [{ type: "text", text: "First text" }, { type: "text", text: "Second text" }] },
      ["First text\n\nSecond text", undefined]],
    [{ content: [{ type: "text", text: "Before image" }, { type: "image", data: "base64data", mimeType: "image/png" },
                 { type: "text", text: "After image" }] },
      ["Before image\n\nAfter image", { content: [{ type: "image_url", image_url: { url: "data:image/png;base64,base64data" } }] }]],
    [{ content: [] }, ["(No response)", undefined]],
    [{ content: [{ type: "image", data: "https://example.com/image.png", mimeType: "image/png" }] },
      ["", { content: [{ type: "image_url", image_url: { url: "https://example.com/image.png" } }] }]],
    [{ content: [{ type: "resource", resource: { uri: "file://document.pdf", mimeType: "application/pdf", text: "Document content" } }] },
      ["Resource Text: Document content\nResource URI: file://document.pdf\nResource MIME Type: application/pdf", undefined]],
    [{ content: [{ type: "resource", resource: { uri: "https://example.com/resource", text: "" } }] },
      ["Resource URI: https://example.com/resource", undefined]],
    [{ content: [{ type: "text", text: "Normal text" }, { type: "unknown", data: "some data" }] },
      ["Normal text\n\n" + JSON.stringify({ type: "unknown", data: "some data" }, null, 2), undefined]],
  ];
  for (const [result, expected] of cases) assert.deepEqual(formatToolContent(result), expected);
  // Its "UI resources in artifacts" case checks parts of the text and the artifact.
  const ui = { uri: "ui://carousel", mimeType: "application/json", text: '{"items": []}' };
  const [text, artifacts] = formatToolContent({ content: [{ type: "resource", resource: ui }] });
  for (const part of ["UI Resource ID:", "UI Resource Marker: \\ui{", "Resource URI: ui://carousel",
                      "Resource MIME Type: application/json"]) assert.ok(text.includes(part), part);
  assert.deepEqual(artifacts.ui_resources.data[0], { ...ui, resourceId: artifacts.ui_resources.data[0].resourceId });
  assert.equal(typeof artifacts.ui_resources.data[0].resourceId, "string");
  return cases.length + 1;
}
