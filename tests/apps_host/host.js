// The test host of the account view: a web page that embeds a view the way an MCP Apps host does, with
// @modelcontextprotocol/ext-apps's AppBridge on its side of the postMessage channel. The Python test drives it
// (tests/e2e/apps_host.py): it reads the ui:// resource and makes the model's tool call with the SDK's Client,
// then calls mountView(); the view's own tool calls and resource reads come back to Python through the
// functions it exposes (hostCallTool, hostReadResource), which relay them to the server through that Client.
import { AppBridge, PostMessageTransport, buildAllowAttribute } from "@modelcontextprotocol/ext-apps/app-bridge";

// The CSP the MCP Apps spec (2026-01-26, "CSP Construction from Metadata") builds from the resource's _meta.ui.csp.
function contentSecurityPolicy(csp = {}) {
  const list = (domains, fallback = "") => (domains && domains.length ? domains.join(" ") : fallback);
  const resources = list(csp.resourceDomains);
  return [
    "default-src 'none'",
    `script-src 'self' 'unsafe-inline' ${resources}`,
    `style-src 'self' 'unsafe-inline' ${resources}`,
    `connect-src 'self' ${list(csp.connectDomains)}`,
    `img-src 'self' data: ${resources}`,
    `font-src 'self' ${resources}`,
    `media-src 'self' data: ${resources}`,
    `frame-src ${list(csp.frameDomains, "'none'")}`,
    "object-src 'none'",
    `base-uri ${list(csp.baseUriDomains, "'self'")}`,
  ].join("; ");
}

function withPolicy(html, policy) {
  const meta = `<meta http-equiv="Content-Security-Policy" content="${policy.replace(/"/g, "&quot;")}">`;
  return /<head[^>]*>/i.test(html) ? html.replace(/<head[^>]*>/i, (head) => `${head}${meta}`) : meta + html;
}

window.mountView = async ({ html, uiMeta, toolInput, toolResult, hostContext, width }) => {
  const iframe = document.createElement("iframe");
  iframe.id = "view";
  iframe.title = "account view";
  iframe.setAttribute("sandbox", "allow-scripts allow-forms");  // no allow-same-origin: an opaque origin
  iframe.setAttribute("allow", buildAllowAttribute(uiMeta.permissions));
  iframe.style.cssText = `width:${width}px;height:120px;border:1px solid #8884;display:block`;
  document.getElementById("views").replaceChildren(iframe);

  const bridge = new AppBridge(null, { name: "collections-mcp test host", version: "1" },
    { serverTools: {}, serverResources: {}, logging: {} }, { hostContext });
  bridge.oncalltool = (params) => window.hostCallTool(params);
  bridge.onreadresource = (params) => window.hostReadResource(params);
  bridge.addEventListener("sizechange", ({ height }) => { if (height) iframe.style.height = `${height}px`; });
  const ready = new Promise((resolve) => bridge.addEventListener("initialized", resolve));
  // The iframe's window exists from the moment it is in the document and survives the srcdoc navigation, so
  // the bridge listens before the view's first message (ui/initialize) can be sent.
  await bridge.connect(new PostMessageTransport(iframe.contentWindow, iframe.contentWindow));
  iframe.srcdoc = withPolicy(html, contentSecurityPolicy(uiMeta.csp));
  await ready;
  await bridge.sendToolInput({ arguments: toolInput });
  await bridge.sendToolResult(toolResult);
  window.viewBridge = bridge;
};

window.changeHostContext = async (update) => { await window.viewBridge.sendHostContextChange(update); };
