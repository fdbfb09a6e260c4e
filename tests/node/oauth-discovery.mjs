// The TypeScript SDK's OAuth client against a toolpark endpoint that takes OIDC tokens: from the 401
// it discovers the endpoint's RFC 9728 metadata, then the issuer's, and starts the authorization
// code flow (PKCE, RFC 8707 resource). The browser step cannot happen in a test, so the URL it would
// open is printed instead, with what was fetched on the way.
// Usage: node oauth-discovery.mjs URL CLIENT_ID ; prints one JSON object.
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";

const [url, clientId] = [new URL(process.argv[2]), process.argv[3]];
const redirect = "http://127.0.0.1:33418/callback";
let opened = null;
const provider = {
  get redirectUrl() { return redirect; },
  get clientMetadata() {
    return { client_name: "toolpark test", redirect_uris: [redirect], grant_types: ["authorization_code"], response_types: ["code"], token_endpoint_auth_method: "none" };
  },
  clientInformation() { return { client_id: clientId }; },  // registered in the realm beforehand
  tokens() { return undefined; },
  saveTokens() {},
  redirectToAuthorization(authorizationUrl) { opened = authorizationUrl; },
  saveCodeVerifier() {},
  codeVerifier() { return "unused"; },
};
const fetched = [];
const fetchLogged = (input, init) => { fetched.push(String(input instanceof Request ? input.url : input)); return fetch(input, init); };
const client = new Client({ name: "toolpark-oauth", version: "1.0.0" });
let failure = null;
try {
  await client.connect(new StreamableHTTPClientTransport(url, { authProvider: provider, fetch: fetchLogged }));
} catch (error) {
  failure = error.constructor.name;
}
console.log(JSON.stringify({
  failure,
  fetched,
  authorization: opened && { origin: opened.origin, path: opened.pathname, params: Object.fromEntries(opened.searchParams) },
}));
