// A dependency-free page that renders /api/v1/openapi.json for people (no CDN, text only).
// The script is served separately so the Content-Security-Policy needs no 'unsafe-inline'.
export const docsPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Fechatter API</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:0 auto;max-width:960px;padding:1rem;color:#1f2328}
h1{margin-bottom:0}details{border:1px solid #d0d7de;border-radius:6px;margin:.4rem 0;padding:.3rem .6rem}
summary{cursor:pointer}code,pre{font:13px ui-monospace,monospace}pre{background:#f6f8fa;padding:.6rem;overflow:auto}
.m{display:inline-block;min-width:4.5rem;font-weight:600}.get{color:#0969da}.post{color:#1a7f37}.patch{color:#9a6700}.delete{color:#cf222e}
</style></head><body>
<h1>Fechatter API</h1><p>Machine-readable: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a> (OpenAPI 3.1).</p>
<main id="ops">Loading…</main>
<script src="/api/docs.js"></script></body></html>`;

export const docsScript = `fetch('/api/v1/openapi.json').then(r => r.json()).then(doc => {
  const main = document.getElementById('ops'); main.textContent = '';
  const intro = document.createElement('p'); intro.textContent = doc.info.description; main.append(intro);
  const byTag = {};
  for (const [path, ops] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(ops)) (byTag[op.tags[0]] ??= []).push([method, path, op]);
  for (const [tag, list] of Object.entries(byTag)) {
    const h = document.createElement('h2'); h.textContent = tag; main.append(h);
    for (const [method, path, op] of list) {
      const d = document.createElement('details'); const s = document.createElement('summary');
      const m = document.createElement('span'); m.className = 'm ' + method; m.textContent = method.toUpperCase();
      const p = document.createElement('code'); p.textContent = path + '  ';
      const t = document.createElement('span'); t.textContent = op.summary + (op.security && op.security.length ? '' : ' (no token)');
      s.append(m, p, t); d.append(s);
      const pre = document.createElement('pre');
      pre.textContent = JSON.stringify({ parameters: op.parameters, requestBody: op.requestBody, responses: op.responses }, null, 2);
      d.append(pre); main.append(d);
    }
  }
  // The shared objects the operations refer to ($ref: #/components/schemas/<name>).
  const h = document.createElement('h2'); h.textContent = 'Objects'; main.append(h);
  for (const [name, schema] of Object.entries(doc.components.schemas)) {
    const d = document.createElement('details'); d.id = 'schema-' + name;
    const s = document.createElement('summary'); const c = document.createElement('code'); c.textContent = name; s.append(c); d.append(s);
    const pre = document.createElement('pre'); pre.textContent = JSON.stringify(schema, null, 2); d.append(pre); main.append(d);
  }
});
`;
